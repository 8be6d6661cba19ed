// Pre-tokenizer regular expressions (see unicode_regex.h): a parser for the
// ECMAScript subset the patterns use, compiled to a small program of
// character classes, prioritised splits and jumps, run by a backtracking
// matcher with an explicit stack (a 100 KB run of letters must not recurse
// 100 K deep: the wasm stack is small).
#include "unicode_regex.h"

#include "common.h"
#include "unicode.h"

namespace hob {

CodepointText::CodepointText(std::vector<uint32_t> c) : cps(std::move(c)) {
    flags.resize(cps.size());
    for (size_t i = 0; i < cps.size(); i++) flags[i] = unicode_flags(cps[i]);
}

struct Regex::Node {
    enum Kind { CLASS, SEQ, ALT, REPEAT, LOOK, END } kind;
    int32_t cls = -1;          // CLASS
    std::vector<Node> kids;    // SEQ, ALT; REPEAT and LOOK have one
    int32_t min = 1, max = 1;  // REPEAT; max -1 is unbounded
    bool negate = false;       // LOOK

    explicit Node(Kind k) : kind(k) {}

    bool can_be_empty() const {
        switch (kind) {
            case CLASS: return false;
            case SEQ:
                for (const Node& k : kids) if (!k.can_be_empty()) return false;
                return true;
            case ALT:
                for (const Node& k : kids) if (k.can_be_empty()) return true;
                return false;
            case REPEAT: return min == 0 || kids[0].can_be_empty();
            case LOOK: case END: return true;
        }
        return true;
    }
};

class Regex::Parser {
public:
    Parser(Regex& re, const std::string& pattern) : re_(re), p_(utf8_decode(pattern)) {}

    Node parse() {
        Node n = alternation();
        if (i_ < p_.size()) unsupported("an unmatched ')'");
        return n;
    }

private:
    [[noreturn]] void unsupported(const std::string& what) const {
        fail(HOB_ERR_INVALID_ARGUMENT, "pre-tokenizer regex \"" + re_.pattern_ + "\": " + what + " at offset " +
                                           std::to_string(i_) + " is not supported");
    }
    bool at(uint32_t c) const { return i_ < p_.size() && p_[i_] == c; }
    bool eat(uint32_t c) {
        if (!at(c)) return false;
        i_++;
        return true;
    }

    Node alternation() {
        Node alt(Node::ALT);
        alt.kids.push_back(sequence());
        while (eat('|')) alt.kids.push_back(sequence());
        return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
    }

    Node sequence() {
        Node seq(Node::SEQ);
        while (i_ < p_.size() && !at('|') && !at(')')) {
            Node a = atom();
            quantifier(a);
            seq.kids.push_back(std::move(a));
        }
        return seq;
    }

    Node atom() {
        const uint32_t c = p_[i_++];
        if (c == '(') {
            Node group(Node::SEQ);
            bool look = false, negate = false;
            if (eat('?')) {
                if (eat('=')) look = true;
                else if (eat('!')) look = negate = true;
                else if (!eat(':')) unsupported("a group flag (only (?: (?= (?! are)");
            }
            Node inner = alternation();
            if (!eat(')')) unsupported("a missing ')'");
            if (!look) return inner;
            group.kind = Node::LOOK;
            group.negate = negate;
            group.kids.push_back(std::move(inner));
            return group;
        }
        if (c == '$') return Node(Node::END);
        if (c == '[') return class_node(bracket());
        if (c == '^' || c == '.' || c == '*' || c == '+' || c == '?' || c == '{' || c == '}' || c == ']') {
            i_--;
            unsupported(std::string("'") + (char)c + "' here");
        }
        CharClass one;
        if (c == '\\') {
            one.items.push_back(escape(nullptr));
        } else {
            one.items.push_back({ClassItem::RANGE, c, c, 0});
        }
        return class_node(std::move(one));
    }

    Node class_node(CharClass c) {
        Node n(Node::CLASS);
        n.cls = (int32_t)re_.classes_.size();
        re_.classes_.push_back(std::move(c));
        return n;
    }

    int32_t number() {
        if (i_ >= p_.size() || p_[i_] < '0' || p_[i_] > '9') unsupported("a '{' without a count");
        int32_t n = 0;
        while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
            n = n * 10 + (int32_t)(p_[i_++] - '0');
            if (n > 64) unsupported("a repeat count above 64");
        }
        return n;
    }

    void quantifier(Node& a) {
        int32_t min, max;
        if (eat('*')) min = 0, max = -1;
        else if (eat('+')) min = 1, max = -1;
        else if (eat('?')) min = 0, max = 1;
        else if (eat('{')) {
            min = max = number();
            if (eat(',')) max = at('}') ? -1 : number();
            if (!eat('}') || (max >= 0 && max < min)) unsupported("a malformed {n,m}");
        } else {
            return;
        }
        if (at('?') || at('+')) unsupported("a lazy or possessive quantifier");
        if (max != 1 && a.can_be_empty()) unsupported("a repeated expression that can match nothing");
        Node r(Node::REPEAT);
        r.min = min;
        r.max = max;
        r.kids.push_back(std::move(a));
        a = std::move(r);
    }

    // After '\\': a character (returned as a one-point range) or a class.
    // `ch`, when given, receives the character, or -1 for a class.
    ClassItem escape(int64_t* ch) {
        if (i_ >= p_.size()) unsupported("a trailing '\\'");
        const uint32_t c = p_[i_++];
        const auto single = [&](uint32_t v) {
            if (ch) *ch = v;
            return ClassItem{ClassItem::RANGE, v, v, 0};
        };
        const auto cls = [&](ClassItem::Kind k, uint8_t mask) {
            if (ch) *ch = -1;
            return ClassItem{k, 0, 0, mask};
        };
        switch (c) {
            case 's': return cls(ClassItem::FLAGS, CP_WHITESPACE);
            case 'S': return cls(ClassItem::NOT_FLAGS, CP_WHITESPACE);
            case 'd': return cls(ClassItem::DIGIT, 0);
            case 'D': return cls(ClassItem::NOT_DIGIT, 0);
            case 'w': return cls(ClassItem::WORD, 0);
            case 'W': return cls(ClassItem::NOT_WORD, 0);
            case 'r': return single('\r');
            case 'n': return single('\n');
            case 't': return single('\t');
            case 'f': return single('\f');
            case 'v': return single('\v');
            case 'p': case 'P': {
                if (!eat('{')) unsupported("\\p without {");
                std::string name;
                while (i_ < p_.size() && p_[i_] != '}' && name.size() < 16) name += (char)p_[i_++];
                if (!eat('}')) unsupported("an unterminated \\p{");
                uint8_t mask = 0;
                if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" || name == "Lo") mask = CP_LETTER;
                else if (name == "N") mask = CP_NUMBER;
                else if (name == "P") mask = CP_PUNCTUATION;
                else if (name == "S") mask = CP_SYMBOL;
                else if (name == "M") mask = CP_MARK;
                else unsupported("the class \\p{" + name + "}");
                return cls(c == 'p' ? ClassItem::FLAGS : ClassItem::NOT_FLAGS, mask);
            }
            case 'x': case 'u': {
                const int digits = c == 'x' ? 2 : 4;
                uint32_t v = 0;
                for (int k = 0; k < digits; k++) {
                    const uint32_t h = i_ < p_.size() ? p_[i_] : 0;
                    int d = h >= '0' && h <= '9' ? (int)(h - '0') : h >= 'a' && h <= 'f' ? (int)(h - 'a' + 10)
                          : h >= 'A' && h <= 'F' ? (int)(h - 'A' + 10) : -1;
                    if (d < 0) unsupported("a malformed \\x or \\u escape");
                    v = v * 16 + (uint32_t)d;
                    i_++;
                }
                return single(v);
            }
            default:
                // Escaped punctuation stands for itself; escaped letters and
                // digits we do not know (\b, \B, \1 ...) are refused.
                if (c < 0x80 && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                    i_--;
                    unsupported(std::string("the escape \\") + (char)c);
                }
                return single(c);
        }
    }

    // After '[': items up to the closing ']'.
    CharClass bracket() {
        CharClass c;
        c.negated = eat('^');
        bool first = true;
        while (i_ < p_.size() && (first || !at(']'))) {
            first = false;
            int64_t lo;
            ClassItem item = read_class_atom(&lo);
            // A '-' between two characters is a range; before ']' or after a
            // class it is itself.
            if (lo >= 0 && at('-') && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
                i_++;
                int64_t hi;
                read_class_atom(&hi);
                if (hi < 0 || hi < lo) unsupported("a bad range in [...]");
                item = {ClassItem::RANGE, (uint32_t)lo, (uint32_t)hi, 0};
            }
            c.items.push_back(item);
        }
        if (!eat(']')) unsupported("an unterminated '['");
        return c;
    }

    ClassItem read_class_atom(int64_t* ch) {
        const uint32_t c = p_[i_++];
        if (c == '\\') return escape(ch);
        if (c == '[') unsupported("a nested '['");
        *ch = c;
        return {ClassItem::RANGE, c, c, 0};
    }

    Regex& re_;
    std::vector<uint32_t> p_;
    size_t i_ = 0;
};

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
    const Node root = Parser(*this, pattern).parse();
    if (root.can_be_empty()) {
        // Every pre-tokenizer pattern consumes text; one that need not would
        // split nowhere, which is not what a tokenizer meant.
        fail(HOB_ERR_INVALID_ARGUMENT, "pre-tokenizer regex \"" + pattern + "\" can match empty text");
    }
    emit(root);
    prog_.push_back({Inst::MATCH});
}

void Regex::emit(const Node& n) {
    const auto here = [&] { return (int32_t)prog_.size(); };
    switch (n.kind) {
        case Node::CLASS: prog_.push_back({Inst::CLASS, false, n.cls, 0}); break;
        case Node::SEQ:
            for (const Node& k : n.kids) emit(k);
            break;
        case Node::ALT: {
            std::vector<int32_t> exits;
            for (size_t k = 0; k < n.kids.size(); k++) {
                if (k + 1 == n.kids.size()) {
                    emit(n.kids[k]);
                    break;
                }
                const int32_t split = here();
                prog_.push_back({Inst::SPLIT, false, split + 1, 0});
                emit(n.kids[k]);
                exits.push_back(here());
                prog_.push_back({Inst::JMP});
                prog_[split].y = here();
            }
            for (int32_t e : exits) prog_[e].x = here();
            break;
        }
        case Node::REPEAT: {
            for (int32_t k = 0; k < n.min; k++) emit(n.kids[0]);
            if (n.max < 0) {
                const int32_t loop = here();
                prog_.push_back({Inst::SPLIT, false, loop + 1, 0});
                emit(n.kids[0]);
                prog_.push_back({Inst::JMP, false, loop, 0});
                prog_[loop].y = here();
            } else {
                std::vector<int32_t> splits;
                for (int32_t k = n.min; k < n.max; k++) {
                    splits.push_back(here());
                    prog_.push_back({Inst::SPLIT, false, here() + 1, 0});
                    emit(n.kids[0]);
                }
                for (int32_t s : splits) prog_[s].y = here();
            }
            break;
        }
        case Node::LOOK: {
            const int32_t look = here();
            prog_.push_back({Inst::LOOK, n.negate, 0, 0});
            emit(n.kids[0]);
            prog_.push_back({Inst::MATCH});
            prog_[look].x = here();
            break;
        }
        case Node::END: prog_.push_back({Inst::END}); break;
    }
}

bool Regex::class_matches(const CharClass& c, uint32_t cp, uint8_t flags) const {
    // llama.cpp hands std::regex every non-ASCII white space as U+000B.
    const uint32_t sym = cp >= 0x80 && (flags & CP_WHITESPACE) ? 0x0B : cp;
    const bool digit = sym >= '0' && sym <= '9';
    const bool word = digit || (sym >= 'a' && sym <= 'z') || (sym >= 'A' && sym <= 'Z') || sym == '_';
    bool hit = false;
    for (const ClassItem& it : c.items) {
        switch (it.kind) {
            case ClassItem::RANGE: hit = sym >= it.lo && sym <= it.hi; break;
            case ClassItem::FLAGS: hit = (flags & it.mask) != 0; break;
            case ClassItem::NOT_FLAGS: hit = (flags & it.mask) == 0; break;
            case ClassItem::DIGIT: hit = digit; break;
            case ClassItem::NOT_DIGIT: hit = !digit; break;
            case ClassItem::WORD: hit = word; break;
            case ClassItem::NOT_WORD: hit = !word; break;
        }
        if (hit) break;
    }
    return hit != c.negated;
}

// Runs the program from `pc` at `pos` until a MATCH: depth first, the
// preferred branch of every split first, so the first MATCH reached is the
// one ECMAScript's priority order picks. A match must end at `min_end` or
// later: after its start for a match, anywhere for a lookahead.
bool Regex::run(const CodepointText& text, int32_t pc, size_t pos, size_t min_end, size_t end, size_t* match_end) const {
    std::vector<std::pair<int32_t, size_t>> stack;  // untried alternatives
    for (;;) {
        const Inst& in = prog_[(size_t)pc];
        bool ok = true;
        switch (in.op) {
            case Inst::CLASS:
                ok = pos < end && class_matches(classes_[(size_t)in.x], text.cps[pos], text.flags[pos]);
                if (ok) pc++, pos++;
                break;
            case Inst::SPLIT:
                stack.emplace_back(in.y, pos);
                pc = in.x;
                break;
            case Inst::JMP: pc = in.x; break;
            case Inst::LOOK: {
                size_t ignored;
                ok = run(text, pc + 1, pos, pos, end, &ignored) != in.negate;
                if (ok) pc = in.x;
                break;
            }
            case Inst::END:
                ok = pos == end;
                if (ok) pc++;
                break;
            case Inst::MATCH:
                if (pos >= min_end) {
                    *match_end = pos;
                    return true;
                }
                ok = false;
                break;
        }
        if (ok) continue;
        if (stack.empty()) return false;
        pc = stack.back().first;
        pos = stack.back().second;
        stack.pop_back();
    }
}

size_t Regex::match_at(const CodepointText& text, size_t start, size_t end) const {
    size_t match_end = 0;
    return run(text, 0, start, start + 1, end, &match_end) ? match_end : 0;
}

std::vector<size_t> Regex::split(const CodepointText& text, const std::vector<size_t>& spans) const {
    std::vector<size_t> out;
    out.reserve(spans.size());
    size_t begin = 0;
    for (const size_t len : spans) {
        const size_t end = begin + len;
        HOB_CHECK(end <= text.cps.size(), HOB_ERR_INTERNAL, "regex split: spans exceed the text");
        size_t gap = begin;  // start of the text not yet in a span
        for (size_t pos = begin; pos < end;) {
            const size_t m = match_at(text, pos, end);
            if (m == 0) {
                pos++;
                continue;
            }
            if (pos > gap) out.push_back(pos - gap);
            out.push_back(m - pos);
            pos = gap = m;
        }
        if (end > gap) out.push_back(end - gap);
        begin = end;
    }
    return out;
}

}  // namespace hob
