export const meta = { name: 'result-nan-infinity', description: 'conformance case result_nan_infinity' }
return { nan: NaN, inf: Infinity, ninf: -Infinity, arr: [NaN, 1] }
