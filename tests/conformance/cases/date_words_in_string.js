export const meta = { name: 'date-words-in-string', description: 'conformance case date_words_in_string' }
return 'Date.now() and Math.random() and new Date() in a string'
