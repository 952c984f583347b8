// @odw result {"d":"1970-01-01T00:00:00.000Z"}
// @why odw serialises the result with JSON.stringify (a Date becomes its ISO text); Claude Code gives `{}`
export const meta = { name: 'result-date-object', description: 'conformance case result_date_object' }
return { d: new Date(0) }
