export const meta = { name: 'args-undefined', description: 'conformance case args_undefined' }
return { t: typeof args, isUndef: args === undefined, isNull: args === null }
