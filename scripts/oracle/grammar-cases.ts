// The grammars and inputs of the grammar fixtures. Intended verdicts are
// written next to each case, but the fixture records what llama.cpp answers
// (make-grammar-fixtures.ts reports where the two differ). The first group
// follows the kinds of cases of llama.cpp's tests/test-grammar-integration.cpp
// (arithmetic, nested expressions, special characters, quantifiers, tokens,
// missing rules, left recursion, custom roots); the rest are Hob's own.

export interface VerdictCase {
  name: string;
  grammar: string;
  root?: string;
  pass: string[];
  fail: string[];
}

export interface ParseFailureCase {
  name: string;
  grammar: string;
  root?: string;
}

/** A token-level input: a number is that token with the piece "<[id]>"
 *  (as llama.cpp's integration test encodes tokens), a string is one token 0
 *  per code point, an object is one token with its own piece. */
export type TokenItem = number | string | { token: number; piece: string; hexPiece?: string };

export interface TokenCase {
  name: string;
  grammar: string;
  pass: TokenItem[][];
  fail: TokenItem[][];
}

export type TriggerSpec =
  | { type: 'word'; value: string }
  | { type: 'pattern'; value: string }
  | { type: 'pattern_full'; value: string }
  | { type: 'token'; text: string };

export interface MaskCase {
  name: string;
  grammar: string;
  /** Text tokenized by the model (special tokens parsed) and fed token by token. */
  text: string;
  lazy?: TriggerSpec[];
}

export interface GreedyCase {
  name: string;
  grammar: string;
  prompt: string;
  nPredict: number;
  /** A lazy grammar whose trigger word the script picks from the model's
   *  unconstrained output (starting inside token `fromToken`, `length`
   *  bytes); `grammar` then holds a rule named tail, and the grammar becomes
   *  root ::= <the text from the trigger to the end of its token> tail. */
  lazyAuto?: { fromToken: number; length: number };
}

const JSON_GRAMMAR = String.raw`root ::= object
value ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}`;

/** The shape llama.cpp's JSON-schema converter emits for an object with typed properties. */
export const PERSON_GRAMMAR = String.raw`root ::= "{" space name-kv "," space age-kv "," space tags-kv "," space ok-kv "," space color-kv "}" space
name-kv ::= "\"name\"" space ":" space string
age-kv ::= "\"age\"" space ":" space integer
tags-kv ::= "\"tags\"" space ":" space tags
ok-kv ::= "\"ok\"" space ":" space boolean
color-kv ::= "\"color\"" space ":" space color
tags ::= "[" space (string ("," space string)*)? "]" space
color ::= ("\"red\"" | "\"green\"" | "\"blue\"") space
boolean ::= ("true" | "false") space
char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})
integer ::= ("-"? integral-part) space
integral-part ::= [0] | [1-9] [0-9]{0,15}
string ::= "\"" char* "\"" space
space ::= | " " | "\n"{1,2} [ \t]{0,20}`;

export const VERDICT_CASES: VerdictCase[] = [
  // -- the kinds of llama.cpp's integration test -------------------------
  {
    name: 'sums of numbers',
    grammar: 'root ::= sum\nsum ::= num ("+" num)*\nnum ::= [0-9]+',
    pass: ['7', '10+20+30', '0+0', '123456789'],
    fail: ['', '+', '1+', '+1', '1++2', '1 + 2', '3-4', '12a'],
  },
  {
    name: 'expressions with calls and spaces',
    grammar: String.raw`root ::= expr
expr ::= term sp (("+" | "-") sp term)*
term ::= factor sp (("*" | "/") sp factor)*
factor ::= number | call | name | "(" sp expr ")"
call ::= name "(" sp (expr ("," sp expr)*)? ")"
number ::= [0-9]+ ("." [0-9]+)?
name ::= [a-zA-Z_] [a-zA-Z0-9_]*
sp ::= [ \t\n]?`,
    pass: ['1', 'x', 'a+b*c', '(1 + 2) * 3', 'max(a, b)', 'f()', 'g(h(1), k(2, 3))', '1.5 / x_2', 'a -b', '2*\n3', 'a  + b'],
    fail: ['', '1 +', '(1 + 2', '1 + 2)', 'f(,)', 'f(1 2)', '1..2', 'a   + b', '*2', '3 * / 4'],
  },
  {
    name: 'any character',
    grammar: 'root ::= "<" . . ">"',
    pass: ['<ab>', '<\n\t>', '<é世>', '<🦙🦙>', '<>>>'],
    fail: ['<a>', '<abc>', '', '<ab', 'ab>'],
  },
  {
    name: 'star, plus and optional',
    grammar: 'root ::= "a"* "b"+ "c"? "d"',
    pass: ['bd', 'abd', 'aaabbbcd', 'bcd', 'bbbbd'],
    fail: ['d', 'ad', 'abccd', 'acd', 'bdd', ''],
  },
  {
    name: 'exact repetition',
    grammar: 'root ::= [xy]{3}',
    pass: ['xxx', 'xyx', 'yyy'],
    fail: ['', 'xx', 'xxxx', 'xyz'],
  },
  {
    name: 'minimum repetition',
    grammar: 'root ::= [xy]{2,}',
    pass: ['xy', 'xyxyxyxyxyxy', 'yy'],
    fail: ['', 'x', 'xyz'],
  },
  {
    name: 'maximum repetition',
    grammar: 'root ::= [xy]{0,3}',
    pass: ['', 'x', 'xy', 'xyx'],
    fail: ['xyxy', 'z'],
  },
  {
    name: 'bounded repetition of a group',
    grammar: 'root ::= ("#" [0-9a-f]{2} ";"?){2,4}',
    pass: ['#00#ff', '#00;#ff;', '#12;#34;#56;#78', '#ab#cd#ef'],
    fail: ['', '#00', '#0#1', '#00#11#22#33#44', '#0g#11'],
  },
  {
    name: 'nested stars (llama.cpp once crashed on this shape)',
    grammar: 'root ::= ( [z]* )*',
    pass: ['', 'z', 'zzzz'],
    fail: ['y', 'zy'],
  },
  {
    name: 'custom root',
    grammar: 'start ::= "go" rest\nrest ::= "!"*',
    root: 'start',
    pass: ['go', 'go!!!'],
    fail: ['', 'g', 'go?'],
  },
  {
    name: 'JSON values (hand-written grammar)',
    grammar: JSON_GRAMMAR,
    pass: ['{}', '{"a": 1}', '{"a": [1, 2.5, -3e5], "b": {"c": null}}', '{"s": "tab\\tq\\"u\\u00e9"}', '{"k":"值 🦙"}', '{\n  "x": true}'],
    fail: ['', '[]', '{"a": 01}', '{"a" 1}', '{"a": "\u0001"}', '{"a": tru}', '{"a": 1,}', '{"a": "\\x"}'],
  },
  {
    name: 'JSON object with typed properties (converter shape)',
    grammar: PERSON_GRAMMAR,
    pass: [
      '{"name": "Ann", "age": 42, "tags": [], "ok": true, "color": "red"}',
      '{"name":"","age":-7,"tags":["a","b"],"ok":false,"color":"blue"}',
      '{\n  "name": "Zoë 🦙",\n  "age": 0,\n  "tags": ["x"],\n  "ok": true,\n  "color": "green"\n}',
    ],
    fail: [
      '{"name": "Ann", "age": 42, "tags": [], "ok": true}',
      '{"name": "Ann", "age": 042, "tags": [], "ok": true, "color": "red"}',
      '{"name": "Ann", "age": 42, "tags": [], "ok": true, "color": "pink"}',
      '{"age": 42, "name": "Ann", "tags": [], "ok": true, "color": "red"}',
    ],
  },

  // -- Hob's own ------------------------------------------------------------
  {
    name: 'unicode literal',
    grammar: 'root ::= "héllo 世界 🦙"',
    pass: ['héllo 世界 🦙'],
    fail: ['hello 世界 🦙', 'héllo 世界', 'héllo 世界 🦙!'],
  },
  {
    name: 'escapes in literals',
    grammar: String.raw`root ::= "\x41\u00e9\U0001F999\t\n\r\\\"\[\]\-"`,
    pass: ['Aé🦙\t\n\r\\"[]-'],
    fail: ['Aé🦙\t\n\r\\"[]', 'Ae🦙\t\n\r\\"[]-'],
  },
  {
    name: 'escapes and edges in classes',
    grammar: String.raw`root ::= [\x00-\x1F]? [a\-z] [\]] [\\] [-a] [a-] [\u4e00-\u9fff] [\U0001F600-\U0001F64F]`,
    pass: ['a]\\-a世😀', '\tz]\\a-\u4e00🙏', '-]\\-a\u9fff😀'],
    fail: ['b]\\-a世😀', 'a]\\-a世🦙', 'a]\\-aa😀', ' a]\\-a世😀'],
  },
  {
    name: 'negated classes',
    grammar: String.raw`root ::= [^a-z]+ [^\u4e00-\u9fff"]*`,
    pass: ['A', 'ABC', '1é', 'Xxyz', '🦙', 'A世', 'A"', 'Ax🦙'],
    fail: ['', 'a', 'Ax世', 'Ax"'],
  },
  {
    name: 'empty classes [] and [^] match nothing and take no room',
    grammar: 'root ::= "a" [] "b" [^] "c"',
    pass: ['abc'],
    fail: ['a b c', 'ab', 'axbyc'],
  },
  {
    name: 'empty alternatives',
    grammar: 'root ::= | "x" opt "y"\nopt ::= "o" | "oo" |',
    pass: ['', 'xy', 'xoy', 'xooy'],
    fail: ['x', 'xoooy', 'y'],
  },
  {
    name: 'nested groups',
    grammar: 'root ::= (("a" | "b")+ ("c" ("d" | "e")?)?)* "!"',
    pass: ['!', 'a!', 'abcd!', 'bac!', 'acebce!', 'aaacdbbbce!'],
    fail: ['', 'c!', 'ab', 'abcde!', 'ad!'],
  },
  {
    name: 'repetition forms with spaces and zero',
    grammar: 'root ::= "p"{ 2 , 3 } "q"{0} "r"{0,0} [s]{1,1} ("t" "u"){1,}',
    pass: ['ppstu', 'pppstutu'],
    fail: ['pstu', 'ppppstu', 'ppqstu', 'pprstu', 'pps'],
  },
  {
    name: 'a maximum over 2000 means no maximum',
    grammar: 'root ::= "a"{0,2001} "b"',
    pass: ['b', 'a'.repeat(2001) + 'b', 'a'.repeat(2500) + 'b'],
    fail: ['a'],
  },
  {
    name: 'exact repetitions of a group of exact repetitions stay under the threshold',
    grammar: 'root ::= ("a"{100}){19}',
    pass: ['a'.repeat(1900)],
    fail: ['a'.repeat(1899), 'a'.repeat(1901)],
  },
  {
    name: '1999 exact repetitions',
    grammar: 'root ::= "ab"{1999}',
    pass: ['ab'.repeat(1999)],
    fail: ['ab'.repeat(1998), 'ab'.repeat(2000)],
  },
  {
    name: 'comments, CRLF and blank lines',
    grammar: '# a comment\r\n\r\nroot ::= first | # trailing\r\n  second\r\nfirst ::= "1" # one\r\nsecond ::= ( "2" # two\r\n  | "3" )\r\n# the end',
    pass: ['1', '2', '3'],
    fail: ['', '12', '#'],
  },
  {
    name: 'rule names with digits and dashes',
    grammar: 'root ::= 2nd-rule -x-\n2nd-rule ::= "two"\n-x- ::= "-x-"',
    pass: ['two-x-'],
    fail: ['two', '-x-'],
  },
  {
    name: 'newlines inside groups',
    grammar: 'root ::= (\n  "a"\n  | "b"\n)+',
    pass: ['a', 'ab', 'bba'],
    fail: ['', 'c'],
  },
  {
    name: 'balanced brackets (recursion that is not left recursion)',
    grammar: 'root ::= "(" root ")" root | ""',
    pass: ['', '()', '(())', '()()', '(()(()))', '('.repeat(40) + ')'.repeat(40)],
    fail: ['(', ')', '(()', '())(', 'x'],
  },
  {
    name: 'alternatives sharing a prefix',
    grammar: 'root ::= ("a" | "ab" | "abc") "c"',
    pass: ['ac', 'abc', 'abcc'],
    fail: ['a', 'ab', 'abccc', 'c'],
  },
  {
    name: 'keyword enum with shared prefixes',
    grammar: 'root ::= ("int" | "integer" | "in" | "interval" | "into") ";"',
    pass: ['int;', 'integer;', 'in;', 'interval;', 'into;'],
    fail: ['i;', 'inte;', 'integers;', 'int', ';'],
  },
  {
    name: 'lines of anything but newline',
    grammar: String.raw`root ::= ([^\n]* "\n")+`,
    pass: ['\n', 'hello\n', 'a b c\n\nlast line 🦙\n'],
    fail: ['', 'no newline', 'a\nb'],
  },
  {
    name: 'supplementary planes',
    grammar: String.raw`root ::= [\U00010000-\U0010FFFF]+`,
    pass: ['🦙', '𝄞😀🦙'],
    fail: ['', 'a', '世', '🦙a'],
  },
  {
    name: 'only the empty string',
    grammar: 'root ::= ""',
    pass: [''],
    fail: [' ', 'a'],
  },
  {
    name: 'empty group',
    grammar: 'root ::= "a" () "b" ("c" | ())',
    pass: ['ab', 'abc'],
    fail: ['a', 'a b', 'abb'],
  },
  {
    name: 'prefix of a valid string is not a match',
    grammar: 'root ::= "hello" " "+ "world"',
    pass: ['hello world', 'hello   world'],
    fail: ['hello', 'hello ', 'hello wor', 'helloworld'],
  },
  {
    name: 'optional sign and bounded digits',
    grammar: 'root ::= [-+]? [1-9] [0-9]{0,2} ("," [0-9]{3})*',
    pass: ['1', '-999', '+12,345', '1,000,000'],
    fail: ['0', '1000', '1,00', '12,3456', '-', '+-1'],
  },
  {
    name: 'deep nesting',
    grammar: 'root ::= "[" root? "]"',
    pass: ['[]', '[[]]', '['.repeat(100) + ']'.repeat(100)],
    fail: ['', '[', '[[]', '[][]'],
  },
  {
    name: 'dot matches newlines and multi-byte characters',
    grammar: 'root ::= "«" .* "»"',
    pass: ['«»', '«\n»', '«a»b»', '«世界🦙»'],
    fail: ['«', '»', '«a'],
  },
  {
    name: 'C-like identifiers and keywords',
    grammar: 'root ::= ("let" | "const") " " ident " = " [0-9]+ ";"\nident ::= [a-zA-Z_$] [a-zA-Z0-9_$]*',
    pass: ['let x = 1;', 'const $_9 = 42;'],
    fail: ['var x = 1;', 'let 9x = 1;', 'let x = ;', 'letx = 1;'],
  },
  {
    name: 'case-insensitive keyword by classes',
    grammar: 'root ::= [sS] [eE] [lL] [eE] [cC] [tT] " *"',
    pass: ['select *', 'SELECT *', 'SeLeCt *'],
    fail: ['selec *', 'select*', 'selects *'],
  },
  {
    name: 'unicode escape strings',
    grammar: String.raw`root ::= "\"" ([^"\\] | "\\u" [0-9a-fA-F]{4})* "\""`,
    pass: ['""', '"abc"', '"\\u00e9x\\uABCD"', '"世界"'],
    fail: ['"', '"\\u12"', '"\\x"', '"a""'],
  },
  {
    name: 'ranges that are single characters and reversed ranges',
    grammar: 'root ::= [a-a] [z-a]? "!"',
    pass: ['a!'],
    fail: ['b!', 'az!', '!'],
  },
];

export const PARSE_FAILURES: ParseFailureCase[] = [
  { name: 'no ::=', grammar: 'root = "a"' },
  { name: 'unterminated literal', grammar: 'root ::= "abc' },
  { name: 'unterminated class', grammar: 'root ::= [abc' },
  { name: 'unknown escape', grammar: 'root ::= "\\q"' },
  { name: 'short hex escape', grammar: 'root ::= "\\x4"' },
  { name: 'short unicode escape', grammar: 'root ::= [\\u12]' },
  { name: 'repetition with nothing before it', grammar: 'root ::= * "a"' },
  { name: 'brace without a count', grammar: 'root ::= "a"{,2}' },
  { name: 'unclosed brace', grammar: 'root ::= "a"{1,2' },
  { name: 'brace with a word', grammar: 'root ::= "a"{1 x}' },
  { name: 'unclosed group', grammar: 'root ::= ("a" | "b"' },
  { name: 'undefined rule', grammar: 'root ::= expr\nexpr ::= term ("+" term)*\nterm ::= numero\nnumber ::= [0-9]+' },
  { name: 'missing root', grammar: 'rot ::= expr\nexpr ::= [0-9]+' },
  { name: 'missing custom root', grammar: 'root ::= "foobar"', root: 'nonexistent' },
  { name: 'default root absent when another is defined', grammar: 'foobar ::= "foobar"' },
  { name: 'direct left recursion', grammar: 'root ::= "a" | root "a"' },
  { name: 'left recursion through a rule', grammar: 'root ::= x\nx ::= "a" | x "a"' },
  { name: 'indirect left recursion', grammar: 'root ::= x\nx ::= "a" | y "b"\ny ::= "c" | x "d" | "e"' },
  { name: 'left recursion behind a rule with an empty alternative', grammar: 'root ::= x\nx ::= "a" | y "b"\ny ::= "c" | nothing x "d" | "e"\nnothing ::= "blah" | ' },
  { name: 'left recursion in an unreachable rule', grammar: 'root ::= "a"\nloop ::= loop "b" | "c"' },
  { name: 'empty grammar', grammar: '# nothing but a comment\n\n' },
  { name: 'bang without a token', grammar: 'root ::= !"a"' },
  { name: 'token text without a vocabulary', grammar: 'root ::= <think> "x"' },
  { name: 'unterminated token id', grammar: 'root ::= <[12' },
  { name: 'token id without the closing >', grammar: 'root ::= <[12]' },
  { name: 'repetition count over 2000', grammar: 'root ::= "a"{2001}' },
  { name: 'repetition count at the threshold', grammar: 'root ::= "a"{2000}' },
  { name: 'repetitions of repetitions over the threshold', grammar: 'root ::= ("a"{0,100}){100}' },
  { name: 'a second line that does not start a rule', grammar: 'root ::= "a"\n  "b"' },
  { name: 'junk after an alternative', grammar: 'root ::= "a" )' },
  { name: 'rule name with a bad character', grammar: 'ro.ot ::= "a"' },
  { name: 'integer past 64 bits', grammar: 'root ::= "a"{1,99999999999999999999999}' },
  { name: 'underscore is not a name character', grammar: 'root ::= my_rule\nmy_rule ::= "x"' },
  { name: 'a star over an empty group is left recursion to llama.cpp', grammar: 'root ::= "a" ()*' },
  { name: 'a rule does not continue on a line starting with |', grammar: 'root ::= "a"\n  | "b"' },
  { name: 'a trailing | takes the next line into the alternative', grammar: 'root ::= "x" opt "y" | \nopt ::= "o"' },
];

export const TOKEN_CASES: TokenCase[] = [
  {
    name: 'text between two tokens',
    grammar: 'root ::= <[10]> body <[11]>\nbody ::= (!<[11]>)*',
    pass: [[10, 'hi there', 11], [10, 11], [10, 12, 'x', 13, 11], [10, { token: 7, piece: 'whole piece' }, 11]],
    fail: [[10, 'no end'], [10], ['x', 11], [10, 11, 11], [11, 10]],
  },
  {
    name: 'reasoning, content and tool calls',
    grammar: 'root ::= think+ say call*\nthink ::= <[10]> (!<[11]>)* <[11]>\nsay ::= <[20]> (!<[21]>)* <[21]>\ncall ::= <[12]> name <[13]> args <[14]>\nname ::= (!<[13]>)+\nargs ::= (!<[14]>)*',
    pass: [
      [10, 'hmm', 11, 20, 'hello', 21, 12, 'f', 13, 'x=1', 14],
      [10, 11, 10, 'again', 11, 20, 21],
      [10, 11, 20, 'a', 21, 12, 'g', 13, 14, 12, 'h', 13, 'y', 14],
    ],
    fail: [[20, 'x', 21], [10, 'open'], [10, 11, 20, 21, 12, 'f', 13], [10, 11, 11, 20, 21], [10, 11, 20, 21, 12, 13, 14]],
  },
  {
    name: 'tokens as well as their text',
    grammar: 'root ::= "<a>" <[5]> "!"',
    pass: [['<a>', 5, '!'], [{ token: 9, piece: '<a>' }, 5, { token: 3, piece: '!' }]],
    fail: [['<a>', '!'], [5, '!'], ['<a>', 6, '!']],
  },
  {
    name: 'characters split across pieces',
    grammar: 'root ::= "é世" [\\U0001F000-\\U0001FFFF]',
    pass: [
      [{ token: 1, piece: '', hexPiece: 'c3' }, { token: 2, piece: '', hexPiece: 'a9e4' }, { token: 3, piece: '', hexPiece: 'b896' }, { token: 4, piece: '🦙' }],
      [{ token: 1, piece: '', hexPiece: 'c3a9e4b896f09f' }, { token: 2, piece: '', hexPiece: 'a699' }],
    ],
    fail: [
      [{ token: 1, piece: '', hexPiece: 'c3' }, { token: 2, piece: 'x' }],
      [{ token: 1, piece: 'é世' }, { token: 2, piece: '', hexPiece: 'f09f' }],
    ],
  },
];

export const MASK_CASES: MaskCase[] = [
  {
    name: 'JSON object with typed properties',
    grammar: PERSON_GRAMMAR,
    text: '{"name": "Zoë said \\"héllo\\" to 世界 🦙🦙", "age": 42, "tags": ["a", "bc"], "ok": true, "color": "green"}',
  },
  {
    name: 'CJK run then a full stop',
    grammar: String.raw`root ::= [\u4e00-\u9fff]+ "。"`,
    text: '你好世界，'.slice(0, 4) + '。',
  },
  {
    name: 'emoji and negated classes over partial characters',
    grammar: String.raw`root ::= [^\u4e00-\u9fff\n]+ "\n" [\U0001F300-\U0001FAFF]+`,
    text: 'Zoë and Émile 🦙\n🦙😀🦙',
  },
  {
    name: 'any character',
    grammar: 'root ::= .{3,12} "!"',
    text: 'a🦙世\tb!',
  },
  {
    name: 'think tokens by text and by negation',
    grammar: 'root ::= <think> (!</think>)* </think> "\\n" [a-z ]+',
    text: '<think>I should answer 世界</think>\nyes please',
  },
  {
    name: 'lazy grammar triggered by a word in the middle of a token',
    grammar: 'root ::= "tool_call>" [ \\n]* "{\\"name\\": \\"" [a-z_]+ "\\"}" [ \\n]* "</tool_call>"',
    text: 'Let me look that up.<tool_call>\n{"name": "search_web"}\n</tool_call>',
    lazy: [{ type: 'word', value: 'tool_call>' }],
  },
  {
    name: 'lazy grammar triggered by a pattern with a group',
    grammar: 'root ::= "CALL " [A-Z]+ "(" [0-9,]* ")"',
    text: 'ok so: CALL FOO(1,2)',
    lazy: [{ type: 'pattern', value: '[\\s\\S]*?(CALL )' }],
  },
  {
    name: 'lazy grammar triggered by a token',
    grammar: 'root ::= <think> [a-z ]+ </think>',
    text: 'preamble<think>a b c</think>',
    lazy: [{ type: 'token', text: '<think>' }],
  },
];

export const GREEDY_CASES: GreedyCase[] = [
  { name: 'yes or no, then end of generation', grammar: 'root ::= "yes" | "no"', prompt: 'Is the sky blue?', nPredict: 8 },
  { name: 'digits only', grammar: 'root ::= [0-9]{4,12}', prompt: 'The number is', nPredict: 16 },
  { name: 'lowercase words', grammar: 'root ::= [a-z]+ (" " [a-z]+){2,5} "."', prompt: 'Once upon a time', nPredict: 24 },
  { name: 'CJK characters split across tokens', grammar: String.raw`root ::= [\u4e00-\u9fff]{3,8} "。"`, prompt: '你好', nPredict: 24 },
  { name: 'emoji', grammar: String.raw`root ::= [\U0001F300-\U0001FAFF]{2,4} " done"`, prompt: 'Reply with emoji:', nPredict: 16 },
  { name: 'JSON object with typed properties', grammar: PERSON_GRAMMAR, prompt: 'A person as JSON:', nPredict: 60 },
  { name: 'JSON values', grammar: JSON_GRAMMAR, prompt: 'Some JSON:', nPredict: 40 },
  { name: 'enum of colors', grammar: 'root ::= "color: " ("red" | "green" | "blue" | "cyan" | "magenta")', prompt: 'Pick one', nPredict: 10 },
  { name: 'hex digits', grammar: 'root ::= "0x" [0-9A-F]{8}', prompt: 'Address', nPredict: 12 },
  { name: 'any three characters', grammar: 'root ::= . . . "!"', prompt: 'Shout', nPredict: 8 },
  { name: 'negated class line', grammar: String.raw`root ::= [^a-z\n]{5,10} "\n"`, prompt: 'CAPS', nPredict: 16 },
  { name: 'balanced brackets', grammar: 'root ::= "(" inner ")"\ninner ::= ("(" inner ")")* | "x"', prompt: 'Brackets', nPredict: 20 },
  { name: 'think block by tokens', grammar: 'root ::= <think> [a-z ]{2,12} </think> "ok"', prompt: 'Think first', nPredict: 20 },
  { name: 'anything but the closing token', grammar: 'root ::= (!</think>){3,6} </think>', prompt: 'Go', nPredict: 12 },
  { name: 'key value lines', grammar: 'root ::= (key "=" val "\\n"){2,3}\nkey ::= [a-z]{1,6}\nval ::= [0-9]{1,3}', prompt: 'config', nPredict: 40 },
  { name: 'accented letters', grammar: 'root ::= [àâäéèêëîïôöùûüç]{3,6} "!"', prompt: 'Français', nPredict: 16 },
  {
    name: 'lazy grammar after a trigger word inside a token',
    grammar: 'tail ::= " CALL " [A-Z]{2,6} "(" [0-9]{1,3} ")"',
    prompt: 'Hello',
    nPredict: 40,
    lazyAuto: { fromToken: 2, length: 3 },
  },
];
