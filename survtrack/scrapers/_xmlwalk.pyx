# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""What the EIS handlers read of an lxml tree, walked in C: no Python object per element.

Optional: xmlsafe.py has the same functions in Python (`fields`, `rows`, `elements`,
`child_elements`)
and uses these when this module is built (`make env`). They walk libxml2's nodes under an
lxml element through lxml's public C API (lxml/includes/etreepublic.pxd) and make Python
objects only of what they return: a field's collapsed text, or the few elements asked for.

A spec names what to read under an element, by local names (any namespace):
    "a"          the first child <a>: its text
    "a/b"        the first child <b> of the first child <a>
    "a//x|y"     under the first child <a>, the first descendant (document order) <x> or <y>
    "//x|y"      the first descendant <x> or <y> of the element itself
    "a?"         whether a first child <a> exists (True/False), for any path above
A text is the element's own text (lxml's `.text`) with runs of whitespace collapsed as
`xmlsafe.value` does (`" ".join(text.split())`), None when there is none.
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, strcmp, strlen
from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Element, elementFactory, import_lxml__etree

import_lxml__etree()


cdef struct Spec:
    int nsteps        # child steps: names[first .. first + nsteps)
    int ndesc         # then a descendant of any of names[first + nsteps .. + ndesc)
    int first
    bint presence


cdef class Plan:
    """A tuple of specs compiled once: names as C strings (kept alive by `_keep`)."""
    cdef Spec* specs
    cdef const char** names
    cdef int n
    cdef list _keep

    def __cinit__(self, tuple specs):
        cdef int i, k = 0, count = 0
        parsed = []
        for spec in specs:
            text = <str>spec
            presence = text.endswith("?")
            if presence:
                text = text[:len(text) - 1]
            path, _, below = text.partition("//")
            steps = [s for s in path.split("/") if s] if path else []
            if (path and len(steps) != path.count("/") + 1) or (_ and not below):
                raise ValueError(f"bad spec {spec!r}")
            desc = below.split("|") if below else []
            if any(not d for d in desc):
                raise ValueError(f"bad spec {spec!r}")
            parsed.append((steps, desc, presence))
            count += len(steps) + len(desc)
        self.n = len(parsed)
        self.specs = <Spec*>malloc(sizeof(Spec) * max(self.n, 1))
        self.names = <const char**>malloc(sizeof(char*) * max(count, 1))
        if self.specs == NULL or self.names == NULL:
            raise MemoryError()
        self._keep = []
        for i, (steps, desc, presence) in enumerate(parsed):
            self.specs[i].first = k
            self.specs[i].nsteps = len(steps)
            self.specs[i].ndesc = len(desc)
            self.specs[i].presence = presence
            for name in steps + desc:
                b = (<str>name).encode("utf-8")
                self._keep.append(b)
                self.names[k] = PyBytes_AS_STRING(b)
                k += 1

    def __dealloc__(self):
        free(self.specs)
        free(self.names)


cdef dict _plans = {}


cdef Plan _names(tuple names):
    """A plan of plain names (one child step each), as `rows` and `child_elements` take."""
    cdef Plan plan = _plan(names)
    cdef int i
    for i in range(plan.n):
        if plan.specs[i].nsteps != 1 or plan.specs[i].ndesc or plan.specs[i].presence:
            raise ValueError(f"not a plain name: {names[i]!r}")
    return plan


cdef Plan _plan(tuple specs):
    plan = _plans.get(specs)
    if plan is None:
        plan = Plan(specs)
        if len(_plans) < 10_000:
            _plans[specs] = plan
    return <Plan>plan


cdef inline bint _same(const char* a, const char* b) noexcept nogil:
    return a[0] == b[0] and strcmp(a, b) == 0  # most names differ in their first letter


cdef inline bint _named(tree.xmlNode* c, const char* name) noexcept nogil:
    return c.type == tree.XML_ELEMENT_NODE and _same(<const char*>c.name, name)


cdef inline tree.xmlNode* _child(tree.xmlNode* parent, const char* name) noexcept nogil:
    cdef tree.xmlNode* c = parent.children
    while c != NULL:
        if _named(c, name):
            return c
        c = c.next
    return NULL


cdef tree.xmlNode* _descendant(tree.xmlNode* top, const char** names, int n) noexcept nogil:
    """The first element below `top` (document order, `top` excluded) named one of `names`."""
    cdef tree.xmlNode* c = top.children
    cdef int i
    while c != NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            for i in range(n):
                if _same(<const char*>c.name, names[i]):
                    return c
            if c.children != NULL:  # its descendants come before its next sibling
                c = c.children
                continue
        while c.next == NULL:
            c = c.parent
            if c == top or c == NULL:
                return NULL
        c = c.next
    return NULL


cdef inline tree.xmlNode* _text_node(tree.xmlNode* c) noexcept nogil:
    """lxml's _textNodeOrSkip: a text or CDATA node, skipping XInclude markers, else NULL."""
    while c != NULL:
        if c.type == tree.XML_TEXT_NODE or c.type == tree.XML_CDATA_SECTION_NODE:
            return c
        if c.type == tree.XML_XINCLUDE_START or c.type == tree.XML_XINCLUDE_END:
            c = c.next
            continue
        return NULL
    return NULL


# Bytes that may start a whitespace character as `str.split()` knows them, in UTF-8: 1 the
# space, 2 the other ASCII ones (\\t \\n \\v \\f \\r, \\x1c-\\x1f), 3 the lead byte of U+0085,
# U+00A0 (0xc2), U+1680 (0xe1), U+2000-U+200A, U+2028, U+2029, U+202F, U+205F (0xe2), U+3000
# (0xe3); 0 any other byte (no whitespace starts there).
cdef unsigned char _LEAD[256]
for _b in range(256):
    _LEAD[_b] = (1 if _b == 0x20 else 2 if 0x09 <= _b <= 0x0d or 0x1c <= _b <= 0x1f
                 else 3 if _b in (0xc2, 0xe1, 0xe2, 0xe3) else 0)


cdef inline Py_ssize_t _space(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The length in bytes of the whitespace character at s[i] of UTF-8 text `s`, 0 when
    there is none."""
    cdef unsigned char lead = _LEAD[s[i]], b, b1, b2
    if lead < 3:
        return lead != 0
    b = s[i]
    if b == 0xc2:
        return 2 if i + 1 < n and (s[i + 1] == 0x85 or s[i + 1] == 0xa0) else 0
    if i + 2 >= n:
        return 0
    b1 = s[i + 1]
    b2 = s[i + 2]
    if b == 0xe1:
        return 3 if b1 == 0x9a and b2 == 0x80 else 0
    if b == 0xe3:
        return 3 if b1 == 0x80 and b2 == 0x80 else 0
    if b1 == 0x80 and (b2 <= 0x8a or b2 == 0xa8 or b2 == 0xa9 or b2 == 0xaf):
        return 3
    return 3 if b1 == 0x81 and b2 == 0x9f else 0


cdef object _collapsed(const unsigned char* s, Py_ssize_t n):
    """`" ".join(text.split()) or None` of UTF-8 text, done on its bytes: runs of whitespace
    become one space, none at either end."""
    cdef Py_ssize_t i = 0, k, at, start
    cdef bint pending = False
    cdef unsigned char* out
    if n <= 0:
        return None
    # most values have nothing to collapse: one scan, then a single decode
    while i < n:
        if _LEAD[s[i]] == 0:
            i += 1
            continue
        k = _space(s, i, n)
        if k and (k > 1 or s[i] != 0x20 or i == 0 or i + 1 == n or _space(s, i + 1, n)):
            break
        i += 1
    if i == n:
        return PyUnicode_DecodeUTF8(<const char*>s, n, NULL)
    out = <unsigned char*>malloc(<size_t>n)
    if out == NULL:
        raise MemoryError()
    try:
        memcpy(out, s, i)  # what came before the first change stays as it is
        at = i
        pending = False
        while i < n:
            k = _space(s, i, n)
            if k:
                pending = at > 0
                i += k
                continue
            if pending:
                out[at] = 0x20
                at += 1
                pending = False
            start = i  # copy up to the next byte that may start whitespace
            i += 1
            while i < n and _LEAD[s[i]] == 0:
                i += 1
            memcpy(out + at, s + start, i - start)
            at += i - start
        return PyUnicode_DecodeUTF8(<const char*>out, at, NULL) if at else None
    finally:
        free(out)


cdef object _value(tree.xmlNode* node):
    """`xmlsafe.value` of a node: its lxml `.text`, whitespace collapsed, or None."""
    cdef tree.xmlNode* first = _text_node(node.children)
    cdef tree.xmlNode* c
    cdef const unsigned char* only = NULL
    cdef Py_ssize_t total = 0, at = 0, k
    cdef int parts = 0
    cdef char* buffer
    if first == NULL:
        return None
    c = first
    while c != NULL:
        if c.content != NULL and c.content[0] != 0:
            only = <const unsigned char*>c.content
            total += strlen(<const char*>c.content)
            parts += 1
        c = _text_node(c.next)
    if parts == 0:
        return None
    if parts == 1:
        return _collapsed(only, total)
    buffer = <char*>malloc(total + 1)
    if buffer == NULL:
        raise MemoryError()
    try:
        c = first
        while c != NULL:
            if c.content != NULL:
                k = strlen(<const char*>c.content)
                memcpy(buffer + at, c.content, k)
                at += k
            c = _text_node(c.next)
        buffer[at] = 0
        return _collapsed(<const unsigned char*>buffer, at)
    finally:
        free(buffer)


cdef tree.xmlNode* _reach(tree.xmlNode* top, Plan plan, int i) noexcept nogil:
    """The node spec `i` of `plan` names under `top`, or NULL."""
    cdef int j
    cdef Spec* spec = &plan.specs[i]
    cdef tree.xmlNode* node = top
    for j in range(spec.nsteps):
        node = _child(node, plan.names[spec.first + j])
        if node == NULL:
            return NULL
    if spec.ndesc:
        node = _descendant(node, plan.names + spec.first + spec.nsteps, spec.ndesc)
    return node


cdef tuple _fields(tree.xmlNode* top, Plan plan):
    cdef int i
    cdef Spec* spec
    cdef tree.xmlNode* node
    out = [None] * plan.n
    for i in range(plan.n):
        spec = &plan.specs[i]
        node = _reach(top, plan, i)
        if spec.presence:
            out[i] = node != NULL
        elif node != NULL:
            out[i] = _value(node)
    return tuple(out)


def fields(_Element el, tuple specs):
    """What each spec reads under `el` (see the module's doc), as a tuple; for `el` None,
    every text None and every presence False."""
    plan = _plan(specs)
    if el is None:
        return tuple([False if spec.endswith("?") else None for spec in specs])
    return _fields(el._c_node, plan)


def rows(_Element el, tuple members, tuple specs):
    """`fields(child, specs)` for each child of `el` named one of `members`, in order."""
    cdef tree.xmlNode* c
    cdef int i
    cdef Plan plan = _plan(specs)
    cdef Plan wanted = _names(members)
    out = []
    if el is None:
        return out
    c = el._c_node.children
    while c != NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            for i in range(wanted.n):
                if _same(<const char*>c.name, wanted.names[i]):
                    out.append(_fields(c, plan))
                    break
        c = c.next
    return out


def elements(_Element el, tuple specs):
    """The element each spec (not a presence) reaches under `el` (an lxml element), or None:
    what `fields` reads the text of, for a handler that reads several fields under it."""
    cdef int i
    cdef tree.xmlNode* c
    cdef Plan plan = _plan(specs)
    for i in range(plan.n):
        if plan.specs[i].presence:
            raise ValueError(f"a presence asks for no element: {specs[i]!r}")
    out = [None] * plan.n
    if el is None:
        return tuple(out)
    for i in range(plan.n):
        c = _reach(el._c_node, plan, i)
        if c != NULL:
            out[i] = elementFactory(el._doc, c)
    return tuple(out)


def child_elements(_Element el, tuple names):
    """The first child of `el` named each of `names` (an lxml element), or None."""
    cdef int i
    cdef tree.xmlNode* c
    cdef Plan plan = _names(names)
    out = [None] * plan.n
    if el is None:
        return tuple(out)
    for i in range(plan.n):
        c = _child(el._c_node, plan.names[i])
        if c != NULL:
            out[i] = elementFactory(el._doc, c)
    return tuple(out)


def declares_dtd(_Element el not None):
    """Whether the document of `el` has a DTD (internal or external subset): what xmlsafe
    refuses, asked without making lxml's DocInfo."""
    cdef tree.xmlDoc* doc = el._doc._c_doc
    return doc.intSubset != NULL or doc.extSubset != NULL
