" Regex highlighting for tl, used when the tree-sitter parser is not installed.
if exists('b:current_syntax')
  finish
endif

syntax keyword tlItem graph block param params contract tolerance assume
syntax keyword tlClause given in ensure check by then rests execute on within
syntax keyword tlImport import as from
syntax keyword tlBoolean true false
syntax match tlDuration "\<\d\+\(\.\d\+\)\=\(ms\|s\|m\|h\)\>"
syntax match tlFloat "\<\d\+\(\.\d\+\([eE][+-]\=\d\+\)\=\|[eE][+-]\=\d\+\)\>"
syntax match tlInteger "\<\d\+\>"
syntax match tlCall "\<\h\w*\ze\s*("
syntax match tlOperator "->\|==\|!=\|<=\|>=\|\~=\|≈\|&&\|||\|[-+*/<>=!]"
syntax match tlEscape contained "\\\([\"\\nt]\|u{\x\+}\)"
syntax region tlString start=+"+ skip=+\\\\\|\\"+ end=+"+ oneline contains=tlEscape
syntax match tlDocComment "///.*$"
syntax match tlComment "//\([^/].*\)\=$"
syntax match tlDefName "\(\<\(graph\|block\)\s\+\)\@<=\h\w*"
syntax match tlContractName "\(\<contract\s\+\)\@<=\h\w*"

highlight default link tlItem Keyword
highlight default link tlClause Keyword
highlight default link tlImport Include
highlight default link tlBoolean Boolean
highlight default link tlDuration Number
highlight default link tlFloat Float
highlight default link tlInteger Number
highlight default link tlCall Function
highlight default link tlOperator Operator
highlight default link tlEscape SpecialChar
highlight default link tlString String
highlight default link tlDocComment SpecialComment
highlight default link tlComment Comment
highlight default link tlDefName Function
highlight default link tlContractName Label

let b:current_syntax = 'tl'
