; Generated from editors/tree-sitter-tl/queries/highlights.scm by scripts/sync-queries.js; do not edit.
; Highlights for tl. Capture names follow the common tree-sitter convention (Neovim, Zed and the
; tree-sitter CLI); scripts/sync-queries.js maps them to Helix scopes.

; Keywords

[
  "graph"
  "block"
  "param"
  "params"
  "contract"
  "tolerance"
  "assume"
] @keyword

[
  "on"
  "given"
  "in"
  "ensure"
  "check"
  "by"
  "then"
  "rests"
  "execute"
  "expect"
  "card"
  "within"
] @keyword

[
  "import"
  "as"
  "from"
] @keyword.import

(boolean) @boolean

; Items

(graph
  name: (identifier) @function)

(contract
  name: (identifier) @label)

(contract
  target: (path
    (identifier) @function))

(tolerance
  name: (identifier) @constant)

(tolerance_component
  kind: (identifier) @attribute)

(within
  tolerance: (identifier) @constant)

(assume
  kind: (identifier) @attribute)

(assume
  name: (identifier) @constant)

(rests_on
  assumption: (identifier) @constant)

(execute_on
  target: (identifier) @constant.builtin)

(import
  format: (identifier) @attribute)

(import
  alias: (identifier) @module)

; Signatures and types

(binding
  name: (identifier) @variable.parameter)

(type
  dtype: (identifier) @type.builtin)

(symbolic_dimension) @type

; Statements and clauses

(param
  name: (path
    (identifier) @property))

(node
  name: (identifier) @variable)

(given
  variable: (identifier) @variable.parameter)

(method
  name: (identifier) @function.method)

(named_argument
  name: (identifier) @variable.parameter)

(call_expression
  function: (path
    (identifier) @function.call .))

; Literals

(integer) @number

(float) @number.float

(duration) @number

(string) @string

(escape_sequence) @string.escape

(comment) @comment

(doc_comment) @comment.documentation

; Punctuation and operators

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  ":"
  "."
] @punctuation.delimiter

[
  "="
  "->"
  "+"
  "-"
  "*"
  "/"
  "=="
  "!="
  "<"
  "<="
  ">"
  ">="
  "~="
  "≈"
  "!"
  "&&"
  "||"
] @operator
