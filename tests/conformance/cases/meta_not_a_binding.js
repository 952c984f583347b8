export const meta = { name: 'meta-not-a-binding', description: 'conformance case meta_not_a_binding' }
return { t: typeof meta }
