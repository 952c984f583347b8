export const meta = { name: 'result-undefined-props-dropped', description: 'conformance case result_undefined_props_dropped' }
return { a: undefined, f: () => 1, b: 1, nested: { u: undefined, v: 'v' } }
