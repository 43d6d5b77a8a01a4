[
  (graph_body)
  (contract_body)
  (list)
  (arguments)
] @fold
