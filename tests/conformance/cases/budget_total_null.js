export const meta = { name: 'budget-total-null', description: 'conformance case budget_total_null' }
return { total: budget.total, remainingIsInfinity: budget.remaining() === Infinity, spentType: typeof budget.spent() }
