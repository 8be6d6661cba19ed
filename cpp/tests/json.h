// A small JSON reader for test fixtures (objects, arrays, strings with every
// escape, numbers, true/false/null). Not for untrusted input: it throws
// std::runtime_error on the first syntax error and nests by recursion.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hobtest {

struct Json {
    enum Kind { NUL, BOOL, NUMBER, STRING, ARRAY, OBJECT } kind = NUL;
    bool boolean = false;
    double number = 0;
    std::string str;
    std::vector<Json> items;                            // ARRAY
    std::vector<std::pair<std::string, Json>> members;  // OBJECT, in file order

    // Member `key` of an object; throws if absent.
    const Json& operator[](const std::string& key) const {
        for (const auto& m : members) {
            if (m.first == key) return m.second;
        }
        throw std::runtime_error("JSON object has no member \"" + key + "\"");
    }

    static Json parse(const std::string& text) {
        size_t pos = 0;
        Json v = parse_value(text, pos);
        skip_ws(text, pos);
        if (pos != text.size()) error(pos, "trailing characters");
        return v;
    }

private:
    [[noreturn]] static void error(size_t pos, const std::string& what) {
        throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(pos));
    }

    static void skip_ws(const std::string& s, size_t& p) {
        while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) p++;
    }

    static void expect(const std::string& s, size_t& p, const char* word) {
        for (const char* c = word; *c; c++, p++) {
            if (p >= s.size() || s[p] != *c) error(p, std::string("expected ") + word);
        }
    }

    static void put_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += (char)cp;
        } else if (cp < 0x800) {
            out += (char)(0xC0 | (cp >> 6));
            out += (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += (char)(0xE0 | (cp >> 12));
            out += (char)(0x80 | ((cp >> 6) & 0x3F));
            out += (char)(0x80 | (cp & 0x3F));
        } else {
            out += (char)(0xF0 | (cp >> 18));
            out += (char)(0x80 | ((cp >> 12) & 0x3F));
            out += (char)(0x80 | ((cp >> 6) & 0x3F));
            out += (char)(0x80 | (cp & 0x3F));
        }
    }

    static uint32_t hex4(const std::string& s, size_t& p) {
        if (p + 4 > s.size()) error(p, "short \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; i++, p++) {
            const char c = s[p];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
            else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
            else error(p, "bad \\u escape");
        }
        return v;
    }

    static std::string parse_string(const std::string& s, size_t& p) {
        expect(s, p, "\"");
        std::string out;
        while (true) {
            if (p >= s.size()) error(p, "unterminated string");
            const char c = s[p++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (p >= s.size()) error(p, "unterminated escape");
            const char e = s[p++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4(s, p);
                    // A high surrogate followed by a low one is one character.
                    if (cp >= 0xD800 && cp < 0xDC00 && s.compare(p, 2, "\\u") == 0) {
                        size_t q = p + 2;
                        const uint32_t lo = hex4(s, q);
                        if (lo >= 0xDC00 && lo < 0xE000) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            p = q;
                        }
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: error(p - 1, "bad escape");
            }
        }
    }

    static Json parse_value(const std::string& s, size_t& p) {
        skip_ws(s, p);
        if (p >= s.size()) error(p, "unexpected end");
        Json v;
        const char c = s[p];
        if (c == '{') {
            v.kind = OBJECT;
            p++;
            skip_ws(s, p);
            if (p < s.size() && s[p] == '}') return p++, v;
            while (true) {
                skip_ws(s, p);
                std::string key = parse_string(s, p);
                skip_ws(s, p);
                expect(s, p, ":");
                v.members.emplace_back(std::move(key), parse_value(s, p));
                skip_ws(s, p);
                if (p < s.size() && s[p] == ',') { p++; continue; }
                expect(s, p, "}");
                return v;
            }
        }
        if (c == '[') {
            v.kind = ARRAY;
            p++;
            skip_ws(s, p);
            if (p < s.size() && s[p] == ']') return p++, v;
            while (true) {
                v.items.push_back(parse_value(s, p));
                skip_ws(s, p);
                if (p < s.size() && s[p] == ',') { p++; continue; }
                expect(s, p, "]");
                return v;
            }
        }
        if (c == '"') {
            v.kind = STRING;
            v.str = parse_string(s, p);
            return v;
        }
        if (c == 't') { expect(s, p, "true"); v.kind = BOOL; v.boolean = true; return v; }
        if (c == 'f') { expect(s, p, "false"); v.kind = BOOL; return v; }
        if (c == 'n') { expect(s, p, "null"); return v; }
        const char* start = s.c_str() + p;
        char* end = nullptr;
        v.number = std::strtod(start, &end);
        if (end == start) error(p, "unexpected character");
        v.kind = NUMBER;
        p += (size_t)(end - start);
        return v;
    }
};

}  // namespace hobtest
