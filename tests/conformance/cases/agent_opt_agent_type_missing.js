// @odw result "echo:faeed69a:TASK as ghost"
// @why odw's adapters are any CLI, with no agent definitions to look up: agentType is passed on (a persona line or the CLI's own flag), never refused
export const meta = { name: 'agent-opt-agent-type-missing', description: 'conformance case agent_opt_agent_type_missing' }
try { return await agent('TASK as ghost', { agentType: 'ghost' }) }
catch (e) { return { threw: true, starts: String(e.message).slice(0, 40) } }
