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
