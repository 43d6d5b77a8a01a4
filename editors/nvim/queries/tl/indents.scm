; Generated from editors/tree-sitter-tl/queries/indents.scm by scripts/sync-queries.js; do not edit.
[
  (graph_body)
  (contract_body)
  (list)
  (arguments)
  (parameters)
] @indent.begin

[
  "}"
  "]"
  ")"
] @indent.end @indent.branch
