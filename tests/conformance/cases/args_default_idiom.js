export const meta = { name: 'args-default-idiom', description: 'conformance case args_default_idiom' }
return (args && args.topic) || 'default-topic'
