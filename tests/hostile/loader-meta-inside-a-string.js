// expect: ok "NaN/; export const meta = {name: 'fake', description: ''}; //"
export const meta = { name: 'hostile', description: 'a division a scanner takes for a regex' };
let q = {} / 2 + "/; export const meta = {name: 'fake', description: ''}; //";
return q;
