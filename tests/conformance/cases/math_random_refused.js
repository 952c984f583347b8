// @odw result true
// @why odw seeds Math.random from the journal instead of refusing; `odw validate` warns
export const meta = { name: 'math-random-refused', description: 'conformance case math_random_refused' }
return Math.random() < 2
