// expect: error SyntaxError
export const meta = { name: 'hostile', description: 'closes the async wrapper and runs at the top level' };
}); while (true) {}; (async () => {
return 1;
