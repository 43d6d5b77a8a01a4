; Generated from editors/tree-sitter-tl/queries/folds.scm by scripts/sync-queries.js; do not edit.
[
  (graph_body)
  (contract_body)
  (list)
  (arguments)
] @fold
