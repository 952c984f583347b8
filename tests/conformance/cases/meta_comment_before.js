// a leading comment
/* and a block one */
export const meta = { name: 'meta-comment-before', description: 'conformance case meta_comment_before' }
return 'comment before meta is fine'
