export const meta = { name: 'new-date-with-argument', description: 'conformance case new_date_with_argument' }
return new Date(0).toISOString()
