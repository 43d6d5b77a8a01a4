" *.tl is tl, not Teal: `set filetype` (not `setfiletype`) overrides Neovim's built-in guess.
autocmd BufRead,BufNewFile *.tl set filetype=tl
