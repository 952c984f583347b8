// @args ["x","y"]
export const meta = { name: 'args-array', description: 'conformance case args_array' }
return { len: args.length, first: args[0] }
