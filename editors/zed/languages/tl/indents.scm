(graph_body "}" @end) @indent
(contract_body "}" @end) @indent
(list "]" @end) @indent
(arguments ")" @end) @indent
