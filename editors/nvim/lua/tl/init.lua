-- tl for Neovim: starts `tlc lsp`, shows contract status signs from `tl/status`, runs the server's
-- verification commands and wires the tree-sitter grammar. Works on Neovim 0.7 and later.
local status = require("tl.status")

local M = {}

local plugin_root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h:h")

M.defaults = {
  cmd = { "tlc", "lsp" },
  -- Files that mark a project root; without one, the file's own directory is the root.
  root_markers = { "tl.toml", ".git" },
  -- false: leave starting the server to nvim-lspconfig or vim.lsp.enable; commands and signs still work.
  lsp = true,
  signs = true,
  codelens = true,
  treesitter = true,
  -- Where :TlBuildParser finds the grammar (editors/tree-sitter-tl/src in the tl repository).
  grammar_dir = plugin_root .. "/../tree-sitter-tl/src",
  on_attach = nil,
  capabilities = nil,
  -- :TlReport: the tlc binary (default: cmd[1]) and how the written page is opened (a function
  -- of the path; default: vim.ui.open where it exists, else xdg-open / open).
  tlc = nil,
  report_open = nil,
}

M.config = vim.deepcopy(M.defaults)

local clients_by_root = {}

local function notify(msg, level)
  vim.notify("tl: " .. msg, level or vim.log.levels.INFO)
end

function M.root_dir(bufnr)
  local file = vim.api.nvim_buf_get_name(bufnr)
  local dir = file ~= "" and vim.fn.fnamemodify(file, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.root_markers) do
    local found = vim.fn.findfile(marker, dir .. ";")
    if found == "" then
      found = vim.fn.finddir(marker, dir .. ";")
    end
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h"):gsub("/%.git/?$", ""):gsub("/$", "")
    end
  end
  return dir
end

local function client_config(root)
  local handlers = { ["tl/status"] = status.handler }
  return {
    name = "tl",
    cmd = M.config.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    handlers = handlers,
    capabilities = M.config.capabilities,
    on_attach = function(client, bufnr)
      if M.config.codelens and client.server_capabilities and client.server_capabilities.codeLensProvider then
        vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost" }, {
          buffer = bufnr,
          callback = function()
            pcall(vim.lsp.codelens.refresh)
          end,
        })
        pcall(vim.lsp.codelens.refresh)
      end
      if M.config.on_attach then
        M.config.on_attach(client, bufnr)
      end
    end,
  }
end

--- Starts (or reuses) the server for the buffer's project and attaches the buffer.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local exe = M.config.cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    notify(
      string.format("cannot start the language server: `%s` is not executable (set cmd in require('tl').setup{})", exe),
      vim.log.levels.ERROR
    )
    return nil
  end
  local root = M.root_dir(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(client_config(root), { bufnr = bufnr })
  end
  -- Neovim 0.7: no vim.lsp.start; one client per root, attached by hand.
  local id = clients_by_root[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(client_config(root))
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

local function execute(bufnr, command, arguments, on_result)
  local params = { command = command, arguments = arguments }
  vim.lsp.buf_request(bufnr, "workspace/executeCommand", params, function(err, result)
    if err then
      notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end)
end

--- Opens `lines` in a scratch split with the given filetype.
local function show_in_split(name, filetype, text)
  vim.cmd("botright new")
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  pcall(vim.api.nvim_buf_set_name, buf, name)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, "\n", { plain = true }))
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = filetype
  return buf
end

local function find_item_above(bufnr, kinds)
  local line = vim.api.nvim_win_get_cursor(0)[1]
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, line, false)
  for i = #lines, 1, -1 do
    local kind, name = lines[i]:match("^%s*(%a+)%s+([%a_][%w_]*)")
    if kind and vim.tbl_contains({ "graph", "block", "contract", "tolerance", "assume", "import" }, kind) then
      return vim.tbl_contains(kinds, kind) and name or nil
    end
  end
  return nil
end

function M.contract_at_cursor(bufnr)
  local line0 = vim.api.nvim_win_get_cursor(0)[1] - 1
  for _, c in ipairs(status.last[bufnr] or {}) do
    if c.range and c.range.start.line <= line0 and line0 <= c.range["end"].line then
      return c.name
    end
  end
  return find_item_above(bufnr, { "contract" })
end

--- After a verify run: say how it went and redraw code lenses with the results (Neovim before
--- 0.10 does not answer the server's workspace/codeLens/refresh).
local function verified(result)
  if type(result) ~= "table" then
    return
  end
  if result.cancelled then
    notify("verification stopped: the document changed (save or :TlVerify to run it again)", vim.log.levels.WARN)
  else
    local counts, order = {}, {}
    for _, c in ipairs(result.contracts or {}) do
      if not counts[c.status] then
        table.insert(order, c.status)
      end
      counts[c.status] = (counts[c.status] or 0) + 1
    end
    local parts = {}
    for _, s in ipairs(order) do
      table.insert(parts, counts[s] .. " " .. s)
    end
    notify(string.format("%s (%d run, %d from the cache)", table.concat(parts, ", "), result.executed or 0, result.cached or 0))
  end
  if M.config.codelens then
    pcall(vim.lsp.codelens.refresh)
  end
end

function M.verify_file(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  execute(bufnr, "tl.verifyFile", { vim.uri_from_bufnr(bufnr) }, verified)
end

function M.verify_contract(bufnr, name)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  name = (name and name ~= "") and name or M.contract_at_cursor(bufnr)
  if not name then
    notify("the cursor is not inside a contract", vim.log.levels.WARN)
    return
  end
  execute(bufnr, "tl.verifyContract", { vim.uri_from_bufnr(bufnr), name }, verified)
end

function M.show_trust(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  execute(bufnr, "tl.showTrust", { vim.uri_from_bufnr(bufnr) }, function(result)
    if type(result) ~= "string" then
      notify("tl.showTrust returned no markdown", vim.log.levels.ERROR)
      return
    end
    show_in_split("tl://trust/" .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":t"), "markdown", result)
  end)
end

function M.show_graph(bufnr, name)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  name = (name and name ~= "") and name or find_item_above(bufnr, { "graph", "block" })
  if not name then
    notify("give a graph name or put the cursor inside a graph", vim.log.levels.WARN)
    return
  end
  execute(bufnr, "tl.showGraph", { vim.uri_from_bufnr(bufnr), name }, function(result)
    if type(result) ~= "table" or type(result.text) ~= "string" then
      notify("tl.showGraph returned no graph text", vim.log.levels.ERROR)
      return
    end
    show_in_split("tl://graph/" .. name, result.format or "mermaid", result.text)
  end)
end

--- Compiles the committed tree-sitter parser (C, no npm needed) into `out_dir`/parser/tl.so
--- (default: this plugin's directory, which is on 'runtimepath').
function M.build_parser(out_dir)
  out_dir = out_dir or plugin_root
  local src = vim.fn.fnamemodify(M.config.grammar_dir, ":p")
  if vim.fn.filereadable(src .. "/parser.c") ~= 1 then
    notify("no parser.c in " .. src .. " (set grammar_dir in setup)", vim.log.levels.ERROR)
    return false
  end
  local cc = vim.env.CC or "cc"
  vim.fn.mkdir(out_dir .. "/parser", "p")
  local out = out_dir .. "/parser/tl.so"
  local cmd = { cc, "-o", out, "-shared", "-fPIC", "-Os", "-I" .. src, src .. "/parser.c" }
  local output = vim.fn.system(cmd)
  if vim.v.shell_error ~= 0 then
    notify("building the parser failed:\n" .. output, vim.log.levels.ERROR)
    return false
  end
  notify("built " .. out)
  return true
end

local function open_externally(path)
  if vim.ui and vim.ui.open then
    return vim.ui.open(path)
  end
  local opener = vim.fn.has("mac") == 1 and "open" or "xdg-open"
  if vim.fn.executable(opener) ~= 1 then
    notify("wrote " .. path .. " (no " .. opener .. " to open it)", vim.log.levels.WARN)
    return
  end
  vim.fn.jobstart({ opener, path }, { detach = true })
end

--- Writes this file's `tlc report` page (graph, ledgers, per-node bounds; docs/views.md) and
--- opens it. `contract`: only that contract (optional). Returns the page's path, or nil.
function M.report(bufnr, contract)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local file = vim.api.nvim_buf_get_name(bufnr)
  if file == "" then
    notify("the buffer has no file", vim.log.levels.WARN)
    return nil
  end
  if vim.bo[bufnr].modified then
    vim.api.nvim_buf_call(bufnr, function()
      vim.cmd("silent write")
    end)
  end
  local out = vim.fn.tempname() .. "-" .. vim.fn.fnamemodify(file, ":t:r") .. ".html"
  local tlc = M.config.tlc or M.config.cmd[1]
  local cmd = { tlc, "report", file, "-o", out }
  if contract and contract ~= "" then
    table.insert(cmd, "--contract")
    table.insert(cmd, contract)
  end
  local output = vim.fn.system(cmd)
  -- Exit 1: the spec has errors; the page is still written (its ledgers marked incomplete).
  if vim.fn.filereadable(out) ~= 1 then
    notify("tlc report failed:\n" .. output, vim.log.levels.ERROR)
    return nil
  end
  if vim.v.shell_error ~= 0 then
    notify(output, vim.log.levels.WARN)
  end
  ;(M.config.report_open or open_externally)(out)
  return out
end

local function parser_available(bufnr)
  return pcall(vim.treesitter.get_parser, bufnr, "tl")
end

function M.start_treesitter(bufnr)
  if not M.config.treesitter or not parser_available(bufnr) then
    return false
  end
  if vim.treesitter.start then
    return pcall(vim.treesitter.start, bufnr, "tl")
  end
  -- Neovim 0.7: no vim.treesitter.start.
  return pcall(function()
    vim.treesitter.highlighter.new(vim.treesitter.get_parser(bufnr, "tl"))
  end)
end

local function on_filetype(args)
  local bufnr = args.buf
  M.start_treesitter(bufnr)
  if M.config.lsp then
    M.attach(bufnr)
  end
end

local function create_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd("TlVerify", function()
    M.verify_file()
  end, { desc = "tl: verify every contract in this file" })
  cmd("TlVerifyContract", function(o)
    M.verify_contract(nil, o.args)
  end, { nargs = "?", desc = "tl: verify the contract at the cursor (or the named one)" })
  cmd("TlTrust", function()
    M.show_trust()
  end, { desc = "tl: open this file's trust report in a split" })
  cmd("TlGraph", function(o)
    M.show_graph(nil, o.args)
  end, { nargs = "?", desc = "tl: open a graph's mermaid text in a split" })
  cmd("TlReport", function(o)
    M.report(nil, o.args)
  end, { nargs = "?", desc = "tl: write this file's HTML report (graph, ledgers, bounds) and open it" })
  cmd("TlStatus", function()
    local lines = status.describe(vim.api.nvim_get_current_buf())
    print(#lines > 0 and table.concat(lines, "\n") or "tl: no status reported yet")
  end, { desc = "tl: list the contracts' statuses" })
  cmd("TlBuildParser", function()
    M.build_parser()
  end, { desc = "tl: compile the tree-sitter parser into the plugin" })
  cmd("TlRestart", function()
    for _, client in pairs(vim.lsp.get_active_clients()) do
      if client.name == "tl" then
        client.stop()
      end
    end
    clients_by_root = {}
    vim.defer_fn(function()
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].filetype == "tl" then
          M.attach(b)
        end
      end
    end, 500)
  end, { desc = "tl: restart the language server" })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  if M.config.signs then
    status.define_signs()
  else
    status.handler = function() end
  end
  create_commands()
  local group = vim.api.nvim_create_augroup("tl", { clear = true })
  vim.api.nvim_create_autocmd("FileType", { group = group, pattern = "tl", callback = on_filetype })
  -- Buffers already open when setup runs.
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].filetype == "tl" then
      on_filetype({ buf = b })
    end
  end
end

return M
