// @args 21
export const meta = { name: 'args-number', description: 'conformance case args_number' }
return { t: typeof args, double: args * 2 }
