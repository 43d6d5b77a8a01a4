(graph
  kind: _ @context
  name: (identifier) @name) @item

(contract
  "contract" @context
  name: (identifier) @name) @item

(tolerance
  "tolerance" @context
  name: (identifier) @name) @item

(assume
  "assume" @context
  name: (identifier) @name) @item

(node
  name: (identifier) @name) @item
