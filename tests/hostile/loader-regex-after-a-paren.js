// expect: ok "regex"
export const meta = { name: 'hostile', description: 'a regex a scanner takes for a division' };
if (1) /'/.test("'");
return 'regex';
