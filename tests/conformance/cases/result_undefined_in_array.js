export const meta = { name: 'result-undefined-in-array', description: 'conformance case result_undefined_in_array' }
return [1, undefined, () => 2, 3]
