-- Minimal Neovim configuration for the screenshots (editors/screenshots/make.sh): the tl plugin
-- from this repository, the server from $TLC, the parser built into $TL_SHOT_PARSER_DIR.
local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
local editors = vim.fn.fnamemodify(here, ":h")
vim.opt.runtimepath:prepend(editors .. "/nvim")
if vim.env.TL_SHOT_PARSER_DIR then
  vim.opt.runtimepath:append(vim.env.TL_SHOT_PARSER_DIR)
end
vim.o.termguicolors = true
vim.o.background = "dark"
vim.cmd("colorscheme desert")
vim.o.number = true
vim.o.signcolumn = "yes:1"
vim.o.laststatus = 2
vim.o.swapfile = false
vim.o.shortmess = vim.o.shortmess .. "I"
vim.diagnostic.config({ virtual_text = true, signs = true, underline = true, severity_sort = true })
require("tl").setup({ cmd = { vim.env.TLC, "lsp" } })
-- The usual LSP hover key (the plugin maps no keys of its own), in a readable bordered float.
vim.keymap.set("n", "K", vim.lsp.buf.hover)
vim.lsp.handlers["textDocument/hover"] = vim.lsp.with(vim.lsp.handlers.hover, { border = "rounded", max_width = 132 })
vim.api.nvim_set_hl(0, "NormalFloat", { fg = "#d4d4d4", bg = "#2b2b2b" })
vim.api.nvim_set_hl(0, "FloatBorder", { fg = "#808080", bg = "#2b2b2b" })
-- Underscores in names are not markdown errors.
vim.api.nvim_set_hl(0, "markdownError", { link = "NormalFloat" })
