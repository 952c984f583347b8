export const meta = { name: 'result-big-integers', description: 'conformance case result_big_integers' }
return { big: 2 ** 53, neg: -0, small: 1e-7 }
