// @args {"topic":"parsers","n":3}
export const meta = { name: 'args-object', description: 'conformance case args_object' }
return { args, topic: args.topic }
