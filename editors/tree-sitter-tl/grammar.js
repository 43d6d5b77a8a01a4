/**
 * @file Tree-sitter grammar for tl, the spec language for neural-network models.
 *
 * Mirrors the grammar in docs/language.md. The Rust parser (lang/syntax) is the reference; this
 * grammar exists for editors (highlighting, folding, locals, text objects), so it accepts exactly
 * the same constructs and leaves name and shape checking to `tlc lsp`.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const PREC = {
  or: 1,
  and: 2,
  compare: 3,
  sum: 4,
  product: 5,
  unary: 6,
  postfix: 7,
};

/** `rule ("," rule)* ","?` */
const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)), optional(','));

module.exports = grammar({
  name: 'tl',

  extras: ($) => [/\s/, $.comment, $.doc_comment],

  word: ($) => $.identifier,

  supertypes: ($) => [$._item, $._statement, $._clause, $._expression],

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.import, $.graph, $.contract, $.tolerance, $.assume),

    // ---------------------------------------------------------------- items

    import: ($) =>
      seq(
        'import',
        optional(field('format', $.identifier)),
        field('path', $.string),
        optional(seq('as', field('alias', $.identifier))),
      ),

    graph: ($) =>
      seq(
        field('kind', choice('graph', 'block')),
        field('name', $.identifier),
        field('inputs', $.parameters),
        '->',
        field('outputs', choice($.binding, $.parameters)),
        optional($.within),
        field('body', $.graph_body),
      ),

    parameters: ($) => seq('(', optional(commaSep1($.binding)), ')'),

    binding: ($) => seq(field('name', $.identifier), ':', field('type', $.type)),

    type: ($) => seq(field('dtype', $.identifier), optional($.dimensions)),

    dimensions: ($) => seq('[', optional(commaSep1($._dimension)), ']'),

    _dimension: ($) => choice($.integer, alias($.identifier, $.symbolic_dimension)),

    // The closing brace is optional, like in tlc's item splitter: an unclosed body ends at the next
    // item keyword, so one missing `}` never swallows the items below it (tlc reports it).
    graph_body: ($) => seq('{', repeat($._statement), optional('}')),

    contract: ($) =>
      seq(
        'contract',
        field('name', $.identifier),
        'on',
        field('target', $.path),
        optional($.within),
        field('body', $.contract_body),
      ),

    contract_body: ($) => seq('{', repeat($._clause), optional('}')),

    tolerance: ($) =>
      seq(
        'tolerance',
        field('name', $.identifier),
        '=',
        $.tolerance_component,
        repeat(seq(',', $.tolerance_component)),
      ),

    tolerance_component: ($) =>
      seq(field('kind', $.identifier), field('value', choice($.integer, $.float))),

    assume: ($) =>
      seq(
        'assume',
        field('kind', $.identifier),
        field('name', $.identifier),
        ':',
        field('justification', $.string),
      ),

    /** `within TOL`: names the error budget of a graph, node, contract or claim. */
    within: ($) => seq('within', field('tolerance', $.identifier)),

    // ------------------------------------------------------------ statements

    _statement: ($) => choice($.param, $.params_from, $.node),

    param: ($) =>
      seq(
        'param',
        field('name', $.path),
        ':',
        field('type', $.type),
        optional(seq('=', field('value', $._expression))),
      ),

    params_from: ($) => seq('params', 'from', field('source', $._expression)),

    node: ($) =>
      seq(
        field('name', $.identifier),
        '=',
        field('value', $._expression),
        optional($.within),
      ),

    // --------------------------------------------------------------- clauses

    _clause: ($) => choice($.given, $.ensure, $.check, $.rests_on, $.execute_on, $.expect, $.card),

    given: ($) =>
      seq(
        'given',
        optional(seq(field('variable', $.identifier), 'in')),
        field('set', $._expression),
      ),

    ensure: ($) => seq('ensure', field('claim', $._expression), optional($.within)),

    check: ($) => seq('check', 'by', $.method, repeat(seq('then', $.method))),

    method: ($) => seq(field('name', $.identifier), optional(field('arguments', $.arguments))),

    rests_on: ($) =>
      seq('rests', 'on', field('assumption', $.identifier), repeat(seq(',', field('assumption', $.identifier)))),

    execute_on: ($) => seq('execute', 'on', field('target', $.identifier)),

    expect: ($) => seq('expect', field('outcome', $.identifier)),

    card: ($) => seq('card', field('name', $.identifier)),

    // ----------------------------------------------------------- expressions

    _expression: ($) =>
      choice(
        $.binary_expression,
        $.unary_expression,
        $.call_expression,
        $.index_expression,
        $.parenthesized_expression,
        $.list,
        $.path,
        $.integer,
        $.float,
        $.duration,
        $.string,
        $.boolean,
      ),

    binary_expression: ($) => {
      /** @type {[number, string[]][]} */
      const table = [
        [PREC.or, ['||']],
        [PREC.and, ['&&']],
        [PREC.compare, ['==', '!=', '<', '<=', '>', '>=', '~=', '≈']],
        [PREC.sum, ['+', '-']],
        [PREC.product, ['*', '/']],
      ];
      return choice(
        ...table.map(([precedence, operators]) =>
          prec.left(
            precedence,
            seq(
              field('left', $._expression),
              field('operator', operators.length === 1 ? operators[0] : choice(...operators)),
              field('right', $._expression),
            ),
          ),
        ),
      );
    },

    unary_expression: ($) =>
      prec(PREC.unary, seq(field('operator', choice('-', '!')), field('operand', $._expression))),

    call_expression: ($) =>
      prec(PREC.postfix, seq(field('function', $._expression), field('arguments', $.arguments))),

    arguments: ($) => seq('(', optional(commaSep1(choice($.named_argument, $._expression))), ')'),

    named_argument: ($) => seq(field('name', $.identifier), '=', field('value', $._expression)),

    index_expression: ($) =>
      prec(
        PREC.postfix,
        seq(
          field('value', $._expression),
          '[',
          field('index', $._expression),
          repeat(seq(',', field('index', $._expression))),
          ']',
        ),
      ),

    parenthesized_expression: ($) => seq('(', commaSep1($._expression), ')'),

    list: ($) => seq('[', optional(commaSep1($._expression)), ']'),

    /** `x`, `fc1.weight`, `layers.0.attn.q_proj.weight`: numeric segments after the first. */
    path: ($) =>
      prec.right(seq($.identifier, repeat(seq(token.immediate('.'), choice($.identifier, $.integer))))),

    // --------------------------------------------------------------- tokens

    identifier: (_) => /[A-Za-z_][A-Za-z0-9_]*/,

    integer: (_) => /[0-9]+/,

    float: (_) => token(choice(/[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?/, /[0-9]+[eE][+-]?[0-9]+/)),

    duration: (_) => token(/[0-9]+(\.[0-9]+)?(ms|s|m|h)/),

    boolean: (_) => choice('true', 'false'),

    string: ($) =>
      seq('"', repeat(choice($.string_content, $.escape_sequence)), token.immediate('"')),

    string_content: (_) => token.immediate(prec(1, /[^"\\\n]+/)),

    escape_sequence: (_) => token.immediate(/\\(["\\nt]|u\{[0-9A-Fa-f]{1,6}\})/),

    doc_comment: (_) => token(prec(2, seq('///', /[^\n]*/))),

    comment: (_) => token(prec(1, seq('//', /[^\n]*/))),
  },
});
