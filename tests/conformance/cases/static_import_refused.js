import fs from 'fs'
export const meta = { name: 'static-import', description: 'conformance case' }
return 'ran'
