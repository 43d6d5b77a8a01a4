-- Signs for `tl/status`: one sign per contract, on its first line, showing its verification status.
-- `tested` means sampled, never verified, and its sign says so.
local M = {}

M.group = "tl_status"

-- Sign text (two cells at most) and the highlight group it links to by default.
M.styles = {
  proved = { text = "✔", link = "DiagnosticOk", fallback = "String" },
  checked = { text = "✓", link = "DiagnosticOk", fallback = "String" },
  tested = { text = "~", link = "DiagnosticInfo", fallback = "Identifier" },
  assumed = { text = "A", link = "DiagnosticWarn", fallback = "WarningMsg" },
  uncovered = { text = "∅", link = "DiagnosticWarn", fallback = "WarningMsg" },
  falsified = { text = "✗", link = "DiagnosticError", fallback = "ErrorMsg" },
  running = { text = "…", link = "DiagnosticInfo", fallback = "Identifier" },
  error = { text = "!", link = "DiagnosticError", fallback = "ErrorMsg" },
  unknown = { text = "?", link = "DiagnosticHint", fallback = "Comment" },
}

-- Worst first: when two contracts start on one line, the worse status gets the sign.
M.rank = { "falsified", "error", "running", "uncovered", "unknown", "assumed", "tested", "checked", "proved" }

local function capitalize(s)
  return s:sub(1, 1):upper() .. s:sub(2)
end

function M.sign_name(status)
  return "TlStatus" .. capitalize(status)
end

function M.define_signs()
  for status, style in pairs(M.styles) do
    local hl = M.sign_name(status)
    local target = vim.fn.hlexists(style.link) == 1 and style.link or style.fallback
    vim.cmd(string.format("highlight default link %s %s", hl, target))
    vim.fn.sign_define(hl, { text = style.text, texthl = hl })
  end
end

local function rank_of(status)
  for i, s in ipairs(M.rank) do
    if s == status then
      return i
    end
  end
  return #M.rank + 1
end

--- Validates a `tl/status` payload and returns { [line0] = contract } with the worst status per
--- line, plus a list of problems (malformed entries are dropped, never drawn).
function M.plan(params)
  local by_line, problems = {}, {}
  if type(params) ~= "table" or type(params.contracts) ~= "table" then
    return by_line, { "tl/status without a contracts list" }
  end
  for i, c in ipairs(params.contracts) do
    local line = type(c) == "table" and type(c.range) == "table" and type(c.range.start) == "table" and c.range.start.line
    if type(c) ~= "table" or type(c.name) ~= "string" then
      table.insert(problems, "contract #" .. i .. ": missing name")
    elseif M.styles[c.status] == nil then
      table.insert(problems, "contract " .. c.name .. ": unknown status " .. tostring(c.status))
    elseif type(line) ~= "number" or line < 0 then
      table.insert(problems, "contract " .. c.name .. ": bad range")
    else
      local current = by_line[line]
      if current == nil or rank_of(c.status) < rank_of(current.status) then
        by_line[line] = c
      end
    end
  end
  return by_line, problems
end

--- Last `tl/status` per buffer, for :TlStatus and the e2e test.
M.last = {}

function M.apply(bufnr, params)
  local by_line, problems = M.plan(params)
  M.last[bufnr] = params.contracts
  vim.fn.sign_unplace(M.group, { buffer = bufnr })
  for line, c in pairs(by_line) do
    if line < vim.api.nvim_buf_line_count(bufnr) then
      vim.fn.sign_place(0, M.group, M.sign_name(c.status), bufnr, { lnum = line + 1, priority = 20 })
    end
  end
  return problems
end

--- The `tl/status` notification handler (signature shared by Neovim 0.7 through 0.11).
function M.handler(_, params, _, _)
  if type(params) ~= "table" or type(params.uri) ~= "string" then
    return
  end
  local bufnr = vim.uri_to_bufnr(params.uri)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    return
  end
  local problems = M.apply(bufnr, params)
  for _, p in ipairs(problems) do
    vim.notify("tl/status: " .. p, vim.log.levels.WARN)
  end
end

--- One line per contract, worst first, for :TlStatus.
function M.describe(bufnr)
  local lines = {}
  for _, c in ipairs(M.last[bufnr] or {}) do
    local extra = c.method and (" by " .. c.method) or ""
    if c.millis then
      extra = extra .. string.format(" (%d ms)", c.millis)
    end
    table.insert(lines, string.format("%s: %s%s%s", c.name, c.status, extra, c.message and (" — " .. c.message) or ""))
  end
  return lines
end

return M
