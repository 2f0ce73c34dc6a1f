/* format.c - the two string formatting languages templates use: Python's
 * printf-style `fmt % args` (also the |format filter) and str.format with
 * {} / {0} / {name} fields, !r / !s conversions and a format spec
 * [[fill]align][sign][0][width][.precision][type]. Widths and precisions
 * are bounded (100000 / 1000) so one field cannot ask for gigabytes; the
 * output is a string built in the render arena (capped at max_string). */
#include "template/format.h"

#include "template/tstr.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FAIL(...) pg_tpl_rt_fail(rt, PG_EINVAL, __VA_ARGS__)

static void pad_to(pg_jv_buf *b, const char *s, size_t n, size_t width, int left, char fill) {
    size_t len = pg_jv_utf8_len(s, n);
    if (!left) for (size_t i = len; i < width; i++) pg_jv_buf_putc(b, fill);
    pg_jv_buf_put(b, s, n);
    if (left) for (size_t i = len; i < width; i++) pg_jv_buf_putc(b, fill);
}

static pg_jv num_arg(pg_tpl_rt *rt, pg_jv v, char conv) {
    if (v.type == PG_JV_UNDEFINED) pg_tpl_rt_undefined_error(rt, v);
    if (!pg_jv_is_number(v)) FAIL("%%%c format: a real number is required, not %s", conv, pg_jv_type_name(v));
    return v;
}

pg_jv pg_tpl_percent_format(pg_tpl_rt *rt, pg_jv fmt, pg_jv args) {
    fmt = pg_tpl_rt_need_str(rt, fmt, "format");
    const pg_jv *av = &args;
    size_t an = 1, ai = 0;
    pg_jv mapping = pg_jv_undefined();
    if (args.type == PG_JV_LIST && pg_jv_list_is_tuple(args)) {
        av = pg_jv_list_items(args);
        an = pg_jv_list_len(args);
    } else if (args.type == PG_JV_DICT) {
        mapping = args;
    }
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, i = 0;
    int used_mapping = 0;
    while (i < n && !b.err) {
        if (p[i] != '%') {
            pg_jv_buf_putc(&b, p[i++]);
            continue;
        }
        i++;
        if (i >= n) FAIL("incomplete format");
        if (p[i] == '%') {
            pg_jv_buf_putc(&b, '%');
            i++;
            continue;
        }
        pg_jv arg;
        int have = 0;
        if (p[i] == '(') {
            size_t st = ++i;
            while (i < n && p[i] != ')') i++;
            if (i >= n) FAIL("incomplete format key");
            if (mapping.type != PG_JV_DICT) FAIL("format requires a mapping");
            if (!pg_jv_dict_get_str(mapping, p + st, i - st, &arg)) FAIL("format key '%.*s' not found", (int)(i - st), p + st);
            i++;
            have = 1;
            used_mapping = 1;
        }
        char flags[8];
        size_t nf = 0;
        while (i < n && strchr("-+ 0#", p[i]) && nf < 6) flags[nf++] = p[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        while (i < n && pg_ts_isdigit(p[i])) {
            width = (width < 0 ? 0 : width) * 10 + (p[i++] - '0');
            if (width > 100000) FAIL("format width too large");
        }
        if (i < n && p[i] == '.') {
            i++;
            prec = 0;
            while (i < n && pg_ts_isdigit(p[i])) {
                prec = prec * 10 + (p[i++] - '0');
                if (prec > 1000) FAIL("format precision too large");
            }
        }
        while (i < n && (p[i] == 'l' || p[i] == 'h' || p[i] == 'L')) i++;
        if (i >= n) FAIL("incomplete format");
        char conv = p[i++];
        if (!have) {
            if (mapping.type == PG_JV_DICT) {
                arg = mapping;
                used_mapping = 1;
            } else {
                if (ai >= an) FAIL("not enough arguments for format string");
                arg = av[ai++];
            }
        }
        int left = strchr(flags, '-') != NULL;
        char cfmt[32];
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            pg_jv s;
            if (conv == 's') {
                s = pg_tpl_rt_to_str(rt, arg);
            } else {
                pg_jv_buf rb;
                pg_tpl_rt_buf(rt, &rb);
                pg_jv_write_repr(&rb, arg);
                s = pg_tpl_rt_buf_done(rt, &rb);
            }
            size_t len = s.u.s.n;
            if (prec >= 0) len = pg_ts_cp_offset(s.u.s.p, s.u.s.n, (size_t)prec);
            pad_to(&b, s.u.s.p, len, width < 0 ? 0 : (size_t)width, left, ' ');
            break;
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            pg_jv v = num_arg(rt, arg, conv);
            long long x = v.type == PG_JV_FLOAT ? (long long)v.u.f : (long long)(v.type == PG_JV_INT ? v.u.i : v.u.b);
            if (v.type == PG_JV_FLOAT && !(fabs(v.u.f) < 9.2e18)) FAIL("cannot convert float to integer");
            char c = conv == 'i' || conv == 'u' ? 'd' : conv;
            snprintf(cfmt, sizeof cfmt, "%%%s%s%s%s%sll%c", flags, width >= 0 ? "*" : "", prec >= 0 ? "." : "",
                     prec >= 0 ? "*" : "", "", c);
            if (width >= 0 && prec >= 0) pg_jv_buf_printf(&b, cfmt, width, prec, x);
            else if (width >= 0) pg_jv_buf_printf(&b, cfmt, width, x);
            else if (prec >= 0) pg_jv_buf_printf(&b, cfmt, prec, x);
            else pg_jv_buf_printf(&b, cfmt, x);
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            double x = pg_jv_as_double(num_arg(rt, arg, conv));
            snprintf(cfmt, sizeof cfmt, "%%%s%s.*%c", flags, width >= 0 ? "*" : "", conv);
            if (width >= 0) pg_jv_buf_printf(&b, cfmt, width, prec < 0 ? 6 : prec, x);
            else pg_jv_buf_printf(&b, cfmt, prec < 0 ? 6 : prec, x);
            break;
        }
        case 'c': {
            pg_jv s;
            if (arg.type == PG_JV_STRING && pg_jv_utf8_len(arg.u.s.p, arg.u.s.n) == 1) {
                s = arg;
            } else if (arg.type == PG_JV_INT && arg.u.i >= 0 && arg.u.i < 0x110000) {
                char tmp[4];
                size_t o = 0;
                uint32_t c = (uint32_t)arg.u.i;
                if (c < 0x80) tmp[o++] = (char)c;
                else if (c < 0x800) { tmp[o++] = (char)(0xC0 | (c >> 6)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                else if (c < 0x10000) { tmp[o++] = (char)(0xE0 | (c >> 12)); tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                else { tmp[o++] = (char)(0xF0 | (c >> 18)); tmp[o++] = (char)(0x80 | ((c >> 12) & 0x3F)); tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[o++] = (char)(0x80 | (c & 0x3F)); }
                s = pg_tpl_rt_str(rt, tmp, o);
            } else {
                FAIL("%%c requires int or char");
            }
            pad_to(&b, s.u.s.p, s.u.s.n, width < 0 ? 0 : (size_t)width, left, ' ');
            break;
        }
        default: FAIL("unsupported format character '%c'", conv);
        }
    }
    if (!used_mapping && ai < an && mapping.type != PG_JV_DICT)
        FAIL("not all arguments converted during string formatting");
    return pg_tpl_rt_buf_done(rt, &b);
}

/* A parsed str.format spec. */
typedef struct fspec {
    char fill, align, sign, type;
    int zero, width, prec;
} fspec;

static void parse_spec(pg_tpl_rt *rt, const char *spec, size_t specn, fspec *f) {
    f->fill = ' ';
    f->align = f->sign = f->type = 0;
    f->zero = f->width = 0;
    f->prec = -1;
    size_t k = 0;
    if (specn >= 2 && strchr("<>^=", spec[1])) {
        f->fill = spec[0];
        f->align = spec[1];
        k = 2;
    } else if (specn >= 1 && strchr("<>^=", spec[0])) {
        f->align = spec[0];
        k = 1;
    }
    if (k < specn && strchr("+- ", spec[k])) f->sign = spec[k++];
    if (k < specn && spec[k] == '0') {
        f->zero = 1;
        k++;
    }
    while (k < specn && pg_ts_isdigit(spec[k])) {
        f->width = f->width * 10 + (spec[k++] - '0');
        if (f->width > 100000) FAIL("format width too large");
    }
    if (k < specn && spec[k] == '.') {
        k++;
        f->prec = 0;
        while (k < specn && pg_ts_isdigit(spec[k])) {
            f->prec = f->prec * 10 + (spec[k++] - '0');
            if (f->prec > 1000) FAIL("format precision too large");
        }
    }
    if (k < specn) f->type = spec[k++];
    if (k != specn) FAIL("invalid format specifier");
}

/* The text of one field before padding; sets f->align when the type implies it. */
static pg_jv field_text(pg_tpl_rt *rt, pg_jv arg, char convc, fspec *f) {
    char tmp[1400];
    if (convc) { /* !r / !a: repr, !s: str; then formatted as a string */
        if (!f->align) f->align = '<';
        if (convc == 's') return pg_tpl_rt_to_str(rt, arg);
        pg_jv_buf rb;
        pg_tpl_rt_buf(rt, &rb);
        pg_jv_write_repr(&rb, arg);
        return pg_tpl_rt_buf_done(rt, &rb);
    }
    pg_jv s;
    if (f->type && strchr("dxXobn", f->type)) {
        if (arg.type != PG_JV_INT && arg.type != PG_JV_BOOL)
            FAIL("Unknown format code '%c' for object of type '%s'", f->type, pg_jv_type_name(arg));
        long long x = arg.type == PG_JV_INT ? arg.u.i : arg.u.b;
        char cf[16];
        snprintf(cf, sizeof cf, "%%%sll%c", f->sign == '+' ? "+" : f->sign == ' ' ? " " : "",
                 f->type == 'n' || f->type == 'b' ? 'd' : f->type);
        snprintf(tmp, sizeof tmp, cf, x);
        s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
        if (!f->align) f->align = '>';
    } else if (f->type && strchr("eEfFgG%", f->type)) {
        if (!pg_jv_is_number(arg))
            FAIL("Unknown format code '%c' for object of type '%s'", f->type, pg_jv_type_name(arg));
        double x = pg_jv_as_double(arg);
        char cf[16];
        if (f->type == '%') x *= 100;
        snprintf(cf, sizeof cf, "%%%s.*%c", f->sign == '+' ? "+" : f->sign == ' ' ? " " : "",
                 f->type == '%' ? 'f' : f->type);
        snprintf(tmp, sizeof tmp - 1, cf, f->prec < 0 ? 6 : f->prec, x);
        if (f->type == '%') strcat(tmp, "%");
        s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
        if (!f->align) f->align = '>';
    } else {
        if (pg_jv_is_number(arg) && arg.type != PG_JV_BOOL && !f->type && f->prec >= 0) {
            snprintf(tmp, sizeof tmp, "%.*g", f->prec > 60 ? 60 : f->prec, pg_jv_as_double(arg));
            s = pg_tpl_rt_str(rt, tmp, strlen(tmp));
        } else {
            s = pg_tpl_rt_to_str(rt, arg);
            if (f->prec >= 0) s.u.s.n = pg_ts_cp_offset(s.u.s.p, s.u.s.n, (size_t)f->prec);
        }
        if (!f->align) f->align = pg_jv_is_number(arg) && arg.type != PG_JV_BOOL ? '>' : '<';
    }
    return s;
}

static void put_padded(pg_jv_buf *b, pg_jv s, const fspec *f) {
    char fill = f->fill, align = f->align;
    if (f->zero && !align) {
        fill = '0';
        align = '=';
    } else if (f->zero && fill == ' ') {
        fill = '0';
    }
    size_t len = pg_jv_utf8_len(s.u.s.p, s.u.s.n);
    size_t padn = (size_t)f->width > len ? (size_t)f->width - len : 0;
    if (align == '<') {
        pg_jv_buf_put(b, s.u.s.p, s.u.s.n);
        for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(b, fill);
    } else if (align == '^') {
        for (size_t q = 0; q < padn / 2; q++) pg_jv_buf_putc(b, fill);
        pg_jv_buf_put(b, s.u.s.p, s.u.s.n);
        for (size_t q = 0; q < padn - padn / 2; q++) pg_jv_buf_putc(b, fill);
    } else if (align == '=' && s.u.s.n && (s.u.s.p[0] == '-' || s.u.s.p[0] == '+' || s.u.s.p[0] == ' ')) {
        pg_jv_buf_putc(b, s.u.s.p[0]);
        for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(b, fill);
        pg_jv_buf_put(b, s.u.s.p + 1, s.u.s.n - 1);
    } else {
        for (size_t q = 0; q < padn; q++) pg_jv_buf_putc(b, fill);
        pg_jv_buf_put(b, s.u.s.p, s.u.s.n);
    }
}

/* The argument a field name ("" = next automatic index, digits, or a keyword) selects. */
static pg_jv field_arg(pg_tpl_rt *rt, const char *name, size_t len, const pg_tpl_args *a, size_t *auto_i) {
    if (len == 0) {
        if (*auto_i >= a->npos) FAIL("Replacement index %zu out of range for positional args tuple", *auto_i);
        return a->pos[(*auto_i)++];
    }
    if (pg_ts_isdigit(name[0])) {
        size_t k = 0;
        for (size_t j = 0; j < len; j++) {
            if (!pg_ts_isdigit(name[j]) || k > 1000000) FAIL("unsupported format field");
            k = k * 10 + (size_t)(name[j] - '0');
        }
        if (k >= a->npos) FAIL("Replacement index %zu out of range for positional args tuple", k);
        return a->pos[k];
    }
    pg_jv arg = pg_jv_undefined();
    int found = 0;
    for (size_t k = 0; k < a->nkw; k++)
        if (strlen(a->kwn[k]) == len && memcmp(a->kwn[k], name, len) == 0) {
            arg = a->kwv[k];
            found = 1;
        }
    if (!found) FAIL("format key '%.*s' not found", (int)len, name);
    return arg;
}

/* str.format: {} {0} {name} with optional !r/!s and a simple spec
 * [[fill]align][sign][0][width][.precision][type] */
pg_jv pg_tpl_str_format(pg_tpl_rt *rt, pg_jv fmt, const pg_tpl_args *a) {
    pg_jv_buf b;
    pg_tpl_rt_buf(rt, &b);
    const char *p = fmt.u.s.p;
    size_t n = fmt.u.s.n, i = 0, auto_i = 0;
    while (i < n && !b.err) {
        char c = p[i];
        if (c == '}') {
            if (i + 1 < n && p[i + 1] == '}') {
                pg_jv_buf_putc(&b, '}');
                i += 2;
                continue;
            }
            FAIL("Single '}' encountered in format string");
        }
        if (c != '{') {
            pg_jv_buf_putc(&b, c);
            i++;
            continue;
        }
        if (i + 1 < n && p[i + 1] == '{') {
            pg_jv_buf_putc(&b, '{');
            i += 2;
            continue;
        }
        size_t st = ++i;
        while (i < n && p[i] != '}' && p[i] != '!' && p[i] != ':') i++;
        size_t fe = i;
        char convc = 0;
        if (i < n && p[i] == '!') {
            if (i + 1 >= n) FAIL("unmatched '{' in format string");
            convc = p[i + 1];
            i += 2;
        }
        const char *spec = "";
        size_t specn = 0;
        if (i < n && p[i] == ':') {
            spec = p + i + 1;
            while (i < n && p[i] != '}') i++;
            specn = (size_t)(p + i - spec);
        }
        if (i >= n || p[i] != '}') FAIL("unmatched '{' in format string");
        i++;
        pg_jv arg = field_arg(rt, p + st, fe - st, a, &auto_i);
        fspec f;
        parse_spec(rt, spec, specn, &f);
        put_padded(&b, field_text(rt, arg, convc, &f), &f);
    }
    return pg_tpl_rt_buf_done(rt, &b);
}
