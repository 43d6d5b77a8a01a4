-- End-to-end test of the Neovim plugin. Run from anywhere:
--
--   TLC=/path/to/tlc nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/test/e2e.lua"
--
-- Always checked (no server needed): *.tl filetype detection, the committed tree-sitter parser
-- compiles, parses the spec and loads the plugin's queries.
-- With TLC set to an executable (skipped with the reason printed otherwise): open a spec example,
-- wait for `tlc lsp` diagnostics, check a hover, a go-to-definition and a contract status sign, and
-- that a broken spec shows a coded (TLxxxx) diagnostic.
--
-- Env: TLC (server binary), TL_E2E_SPEC (spec to open; default: the first spec-examples/*.tl that
-- has a node and a contract, else test/fixtures/mlp.tl), TL_E2E_TIMEOUT_MS (default 30000).

local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
local plugin_dir = vim.fn.fnamemodify(here, ":h")
local repo_root = vim.fn.fnamemodify(plugin_dir, ":h:h")
local timeout = tonumber(os.getenv("TL_E2E_TIMEOUT_MS") or "") or 30000

local passed, failed, skipped = 0, 0, 0

local function say(msg)
  io.stdout:write(msg .. "\n")
  io.stdout:flush()
end

local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    say("ok   - " .. name)
  else
    failed = failed + 1
    say("FAIL - " .. name .. (detail and (": " .. detail) or ""))
  end
  return ok
end

local function skip(name, reason)
  skipped = skipped + 1
  say("skip - " .. name .. ": " .. reason)
end

local function finish()
  say(string.format("nvim e2e: %d passed, %d failed, %d skipped", passed, failed, skipped))
  if failed > 0 then
    vim.cmd("cquit 1")
  else
    vim.cmd("qall!")
  end
end

-- Run everything protected so a Lua error is a failure with a message, never a hang.
local function protected(fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    check("test script ran without a Lua error", false, tostring(err))
  end
end

vim.opt.runtimepath:prepend(plugin_dir)
vim.opt.swapfile = false
vim.cmd("filetype on")

-- Record which files received published diagnostics (an empty list is an answer too).
local published = {}
local default_publish = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  if result and result.uri then
    published[vim.uri_to_fname(result.uri)] = true
  end
  return default_publish(err, result, ctx, config)
end

local function clients_of(bufnr)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = bufnr })
  end
  return vim.lsp.buf_get_clients(bufnr)
end

local function open(path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf()
end

local function read_lines(path)
  return vim.fn.readfile(path)
end

--- A node definition `name = op(...)` and a later line that uses `name`: positions for hover and
--- go-to-definition that exist in any real spec.
local function find_node_and_use(lines)
  for i, line in ipairs(lines) do
    local indent, name = line:match("^(%s*)([%a_][%w_]*)%s*=%s*[%a_][%w_.]*%(")
    if name then
      for j = i + 1, #lines do
        local s = lines[j]:find("[(,]%s*" .. name .. "%s*[,)%[]")
        if s then
          local col = lines[j]:find(name, s, true)
          return { name = name, def_line = i - 1, def_col = #indent, use_line = j - 1, use_col = col - 1 }
        end
      end
    end
  end
  return nil
end

local function choose_spec()
  local explicit = os.getenv("TL_E2E_SPEC")
  if explicit and explicit ~= "" then
    return vim.fn.fnamemodify(explicit, ":p")
  end
  for _, path in ipairs(vim.fn.glob(repo_root .. "/spec-examples/**/*.tl", false, true)) do
    local lines = read_lines(path)
    local has_contract = false
    for _, l in ipairs(lines) do
      has_contract = has_contract or l:match("^%s*contract%s") ~= nil
    end
    if has_contract and find_node_and_use(lines) then
      return path
    end
  end
  return here .. "/fixtures/mlp.tl"
end

local function hover_text(result)
  local contents = result and result.contents
  if type(contents) == "string" then
    return contents
  elseif type(contents) == "table" and contents.value then
    return contents.value
  elseif type(contents) == "table" then
    local parts = {}
    for _, c in ipairs(contents) do
      table.insert(parts, type(c) == "string" and c or (c.value or ""))
    end
    return table.concat(parts, "\n")
  end
  return ""
end

local function request(bufnr, method, params)
  local responses = vim.lsp.buf_request_sync(bufnr, method, params, timeout)
  for _, r in pairs(responses or {}) do
    if r.error then
      return nil, r.error.message
    end
    return r.result
  end
  return nil, "no response"
end

local function placed_signs(bufnr)
  local placed = vim.fn.sign_getplaced(bufnr, { group = "tl_status" })
  return placed[1] and placed[1].signs or {}
end

local function diagnostic_code(d)
  if d.code then
    return tostring(d.code)
  end
  local lsp = d.user_data and d.user_data.lsp
  return lsp and lsp.code and tostring(lsp.code) or (d.message or ""):match("TL%d%d%d%d")
end

local function sign_logic_checks()
  local status = require("tl.status")
  local function contract(name, st, line)
    return { name = name, status = st, range = { start = { line = line, character = 0 }, ["end"] = { line = line, character = 1 } } }
  end
  local plan, problems = status.plan({
    uri = "file:///x.tl",
    contracts = {
      contract("fine", "proved", 3),
      contract("broken", "falsified", 3),
      contract("sampled", "tested", 7),
      contract("bogus", "verified", 9),
      { name = "no_range", status = "checked" },
    },
  })
  check("signs: the worse status wins a shared line", plan[3] and plan[3].name == "broken")
  check("signs: tested keeps its own (not verified) sign", plan[7] and status.styles[plan[7].status].text == "~")
  check("signs: malformed entries are dropped and reported", plan[9] == nil and #problems == 2, vim.inspect(problems))
end

local function filetype_check(spec)
  local buf = open(spec)
  check("*.tl files get filetype tl (not teal)", vim.bo[buf].filetype == "tl", "got " .. vim.bo[buf].filetype)
  vim.cmd("bwipeout! " .. buf)
end

local function treesitter_checks(spec)
  local tl = require("tl")
  local parser_dir = vim.fn.tempname()
  if vim.fn.executable(vim.env.CC or "cc") ~= 1 then
    skip("tree-sitter parser", "no C compiler (cc) to build it")
    return
  end
  if not check("tree-sitter parser compiles from editors/tree-sitter-tl/src", tl.build_parser(parser_dir)) then
    return
  end
  vim.opt.runtimepath:append(parser_dir)
  local buf = open(spec)
  local ok, parser = pcall(vim.treesitter.get_parser, buf, "tl")
  if not check("tree-sitter parser loads in Neovim", ok, tostring(parser)) then
    return
  end
  local root = parser:parse()[1]:root()
  check("tree-sitter parses " .. vim.fn.fnamemodify(spec, ":t") .. " without errors", not root:has_error())
  local get_query = vim.treesitter.query.get or vim.treesitter.query.get_query
  for _, name in ipairs({ "highlights", "locals", "folds", "indents" }) do
    local qok, query = pcall(get_query, "tl", name)
    check("query " .. name .. ".scm loads", qok and query ~= nil, tostring(query))
  end
  local qok, highlights = pcall(get_query, "tl", "highlights")
  if qok and highlights then
    local captures = {}
    for id, node in highlights:iter_captures(root, buf, 0, -1) do
      local capture = highlights.captures[id]
      if capture == "function" or capture == "keyword" then
        captures[capture .. ":" .. vim.treesitter.get_node_text(node, buf)] = true
      end
    end
    check("highlights mark the graph keyword", captures["keyword:graph"] == true)
  end
  vim.cmd("bwipeout! " .. buf)
end

local function lsp_checks(tlc, spec)
  require("tl").setup({ cmd = { tlc, "lsp" } })
  local buf = open(spec)
  local attached = vim.wait(timeout, function()
    return #clients_of(buf) > 0 and clients_of(buf)[1].initialized ~= false
  end, 50)
  if not attached then
    -- Say why: run `tlc lsp` with stdin closed (a working server exits on EOF) and show its output.
    local out = vim.fn.system({ "timeout", "5", tlc, "lsp" }, "")
    check("tlc lsp starts and attaches", false, "`" .. tlc .. " lsp` said: " .. vim.trim(out):sub(1, 300))
    return
  end
  check("tlc lsp starts and attaches", true)
  local fname = vim.api.nvim_buf_get_name(buf)
  local got = vim.wait(timeout, function()
    return published[fname] == true
  end, 50)
  check("diagnostics published for " .. vim.fn.fnamemodify(spec, ":t"), got)
  local errors = vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })
  local first = errors[1] and (errors[1].lnum + 1 .. ": " .. errors[1].message) or nil
  check("the spec example has no error diagnostics", #errors == 0, first)

  local target = find_node_and_use(vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  if not target then
    skip("hover and definition", "no `name = op(...)` node with a later use in " .. spec)
  else
    local uri = vim.uri_from_bufnr(buf)
    local hover, herr = request(buf, "textDocument/hover", {
      textDocument = { uri = uri },
      position = { line = target.use_line, character = target.use_col },
    })
    local text = hover_text(hover)
    check("hover on a use of node `" .. target.name .. "` has text", text:match("%S") ~= nil, herr or "empty hover")
    say("       hover: " .. text:gsub("\n", " | "):sub(1, 120))

    local def, derr = request(buf, "textDocument/definition", {
      textDocument = { uri = uri },
      position = { line = target.use_line, character = target.use_col },
    })
    local locations = (def and (def.uri or def.targetUri)) and { def } or (def or {})
    local found = false
    for _, loc in ipairs(locations) do
      local range = loc.targetSelectionRange or loc.range or loc.targetRange
      found = found or (range and range.start.line == target.def_line)
    end
    check(
      "definition of `" .. target.name .. "` (line " .. target.use_line + 1 .. ") is line " .. target.def_line + 1,
      found,
      derr or vim.inspect(def)
    )
  end

  -- Signs come from `tl/status`; if the server only reports after a verify, ask for one.
  local have_signs = vim.wait(5000, function()
    return #placed_signs(buf) > 0
  end, 50)
  if not have_signs then
    require("tl").verify_file(buf)
    have_signs = vim.wait(timeout, function()
      return #placed_signs(buf) > 0
    end, 50)
  end
  local signs = placed_signs(buf)
  local on_contract = false
  for _, s in ipairs(signs) do
    local text = vim.api.nvim_buf_get_lines(buf, s.lnum - 1, s.lnum, false)[1] or ""
    on_contract = on_contract or text:match("^%s*contract%s") ~= nil
    say("       sign " .. s.name .. " on line " .. s.lnum)
  end
  check("a contract status sign is placed on a contract line", have_signs and on_contract)

  local spec_win = vim.api.nvim_get_current_win()
  require("tl").show_trust(buf)
  local trust_opened = vim.wait(timeout, function()
    return vim.bo[vim.api.nvim_get_current_buf()].filetype == "markdown"
  end, 50)
  local trust_lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  check(":TlTrust opens the markdown trust report in a split", trust_opened and #vim.api.nvim_list_wins() > 1 and
    table.concat(trust_lines, "\n"):match("%S") ~= nil)
  vim.api.nvim_set_current_win(spec_win)
  vim.cmd("only")

  local broken = open(here .. "/fixtures/broken.tl")
  local coded
  vim.wait(timeout, function()
    for _, d in ipairs(vim.diagnostic.get(broken)) do
      local code = diagnostic_code(d)
      if code and code:match("^TL%d%d%d%d$") then
        coded = d
        return true
      end
    end
    return false
  end, 50)
  check(
    "broken.tl shows a coded TLxxxx diagnostic",
    coded ~= nil,
    "diagnostics: " .. vim.inspect(vim.tbl_map(function(d)
      return d.message
    end, vim.diagnostic.get(broken)))
  )
  if coded then
    say("       " .. diagnostic_code(coded) .. " at line " .. coded.lnum + 1 .. ": " .. coded.message)
  end
end

-- :TlReport writes the page with the real tlc and hands its path to the opener.
local function report_checks(tlc, spec)
  local tl = require("tl")
  local opened
  tl.config.tlc = tlc
  tl.config.report_open = function(path)
    opened = path
  end
  local buf = vim.fn.bufadd(spec)
  vim.fn.bufload(buf)
  local out = tl.report(buf)
  local page = out and table.concat(vim.fn.readfile(out), "\n") or ""
  check(
    ":TlReport writes the HTML report and opens it",
    out ~= nil and opened == out and page:match("data%-contract=") ~= nil and page:match("data%-node=") ~= nil,
    "out=" .. tostring(out) .. " opened=" .. tostring(opened)
  )
end

protected(function()
  local spec = choose_spec()
  say("spec: " .. spec)
  sign_logic_checks()
  filetype_check(spec)
  treesitter_checks(spec)
  local tlc = os.getenv("TLC")
  if not tlc or tlc == "" then
    skip("language server checks", "TLC is not set (point it at a built tlc binary)")
  elseif vim.fn.executable(tlc) ~= 1 then
    skip("language server checks", "TLC=" .. tlc .. " is not an executable file")
  else
    if tlc:match("fake%-tlc%.js$") then
      skip(":TlReport", "the scripted fake server answers only `lsp`; the real tlc run checks the report")
    else
      report_checks(tlc, spec)
    end
    lsp_checks(tlc, spec)
  end
end)
finish()
