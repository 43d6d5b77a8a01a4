; Scopes and definitions for tl: a graph body is a scope holding its inputs, outputs and nodes;
; a contract body holds the variables its `given` clauses bind.

[
  (graph)
  (contract)
] @local.scope

(binding
  name: (identifier) @local.definition)

(node
  name: (identifier) @local.definition)

(given
  variable: (identifier) @local.definition)

(path
  .
  (identifier) @local.reference)
