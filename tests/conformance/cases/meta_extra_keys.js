export const meta = { name: 'meta-extra-keys', description: 'conformance case', whenToUse: 'never', version: 2 }
return 'ok'
