/*
 * kubetrail.store.clickhouse._flatten: the flattening of a document into the events table's
 * pairs and columns, in C.
 *
 * `flatten(doc)` walks the document as kubetrail.store.clickhouse.schema._flattened does and
 * returns the same five containers, (keys, values, objects, hot, paths), or None where it
 * declines (a key that is not a str): the Python walk, which is the reference, then does it
 * and raises what it raises. `hot` and `paths` are lists in their columns' order, each value
 * as its column takes it. The tests (tests/store/test_flatten_speedups.py) check that
 * both give the same containers, down to the JSON texts.
 *
 * A leaf's JSON text is written here for a str (orjson's form: UTF-8, with `"`, `\` and the
 * control characters escaped, the short escapes where JSON has them), an int of 64 bits, a
 * bool and None; any other value (a float, an int past 64 bits, a str that is not valid
 * UTF-8) goes to the Python `_json_text`, errors included. Strings go through the Python
 * side's cache of texts, with the same bound. Each path is built once, with its kind, and
 * kept (`children`). A document nested past Python's recursion limit raises RecursionError,
 * as the Python walk does.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* set by `configure` (kubetrail.store.clickhouse.schema) */
static PyObject *in_columns;   /* frozenset: fields kept in hot columns */
static PyObject *path_columns; /* frozenset: fields with a path column */
static PyObject *list_paths;   /* frozenset: the path columns that cross a list */
static PyObject *texts;        /* dict: str -> its JSON text (the Python side's cache) */
static Py_ssize_t texts_size;  /* the cache's bound */
static PyObject *json_text;    /* the Python `_json_text`, for every other value */
static PyObject *hot_order;    /* tuple: (field, is the status code) per hot column, in order */
static PyObject *path_order;   /* tuple: (field, crosses a list) per path column, in order */
static PyObject *s_true, *s_false, *s_null, *s_dot, *s_empty;

/* The paths of the fields met, each with its kind, built once: documents repeat their paths.
 * `children`: parent path -> {key -> (path, kind)}; the top level's parent is None. Bounded:
 * past `PATHS_AT_MOST` entries (documents with ever-new keys, e.g. labels) it starts over. */
enum { HOT = 0, PAIR = 1, PATH = 2, LIST_PATH = 3 };
static PyObject *children;
static Py_ssize_t paths_cached;
#define PATHS_AT_MOST 65536

typedef struct {
    PyObject *keys, *values, *objects, *hot, *paths;
} Flat;

/* the JSON text of a str, as orjson writes it (NULL with an error raised) */
static PyObject *
str_text(PyObject *value)
{
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == NULL) {
        /* not encodable (a lone surrogate): the Python side raises orjson's error */
        PyErr_Clear();
        return PyObject_CallOneArg(json_text, value);
    }
    Py_ssize_t extra = 2;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n' || c == '\f' ||
            c == '\r')
            extra += 1;
        else if (c < 0x20)
            extra += 5;
    }
    PyObject *text;
    if (extra == 2 && PyUnicode_IS_ASCII(value)) {
        /* nothing to escape: quotes around the same characters */
        text = PyUnicode_New(size + 2, 127);
        if (text == NULL)
            return NULL;
        char *out = (char *)PyUnicode_DATA(text);
        out[0] = '"';
        memcpy(out + 1, utf8, (size_t)size);
        out[size + 1] = '"';
        return text;
    }
    char *buffer = PyMem_Malloc((size_t)(size + extra));
    if (buffer == NULL)
        return PyErr_NoMemory();
    char *out = buffer;
    *out++ = '"';
    static const char hex[] = "0123456789abcdef";
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)utf8[i];
        switch (c) {
        case '"': *out++ = '\\'; *out++ = '"'; break;
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\b': *out++ = '\\'; *out++ = 'b'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\f': *out++ = '\\'; *out++ = 'f'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        default:
            if (c < 0x20) {
                memcpy(out, "\\u00", 4);
                out[4] = hex[c >> 4];
                out[5] = hex[c & 0xf];
                out += 6;
            }
            else {
                *out++ = (char)c;
            }
        }
    }
    *out++ = '"';
    text = PyUnicode_DecodeUTF8(buffer, out - buffer, NULL);
    PyMem_Free(buffer);
    return text;
}

/* the JSON text of a leaf (a new reference; NULL with an error raised) */
static PyObject *
leaf_text(PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        PyObject *text = PyDict_GetItemWithError(texts, value);
        if (text != NULL)
            return Py_NewRef(text);
        if (PyErr_Occurred())
            return NULL;
        text = str_text(value);
        if (text == NULL)
            return NULL;
        /* the Python side's policy: a full cache starts over */
        if (PyDict_GET_SIZE(texts) >= texts_size)
            PyDict_Clear(texts);
        if (PyDict_SetItem(texts, value, text) < 0) {
            Py_DECREF(text);
            return NULL;
        }
        return text;
    }
    if (value == Py_True)
        return Py_NewRef(s_true);
    if (value == Py_False)
        return Py_NewRef(s_false);
    if (value == Py_None)
        return Py_NewRef(s_null);
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && !(number == -1 && PyErr_Occurred()))
            return PyUnicode_FromFormat("%lld", number);
        PyErr_Clear();
    }
    return PyObject_CallOneArg(json_text, value);
}

/* the list at `key` of dict `paths`, created if missing (borrowed; NULL on error) */
static PyObject *
list_at(PyObject *paths, PyObject *key)
{
    PyObject *list = PyDict_GetItemWithError(paths, key);
    if (list != NULL || PyErr_Occurred())
        return list;
    list = PyList_New(0);
    if (list == NULL)
        return NULL;
    int failed = PyDict_SetItem(paths, key, list);
    Py_DECREF(list); /* the dict holds it */
    return failed ? NULL : list;
}

/* the kind of a leaf at `path` (-1 on error) */
static int
kind_of(PyObject *path)
{
    int found = PySet_Contains(in_columns, path);
    if (found != 0)
        return found < 0 ? -1 : HOT;
    found = PySet_Contains(path_columns, path);
    if (found <= 0)
        return found < 0 ? -1 : PAIR;
    found = PySet_Contains(list_paths, path);
    return found < 0 ? -1 : found ? LIST_PATH : PATH;
}

/* the path of `key` under `parent` (None at the top), with its kind: a borrowed (path, kind)
 * tuple from the cache (NULL on error) */
static PyObject *
child_of(PyObject *parent, PyObject *key)
{
    PyObject *known = PyDict_GetItemWithError(children, parent);
    if (known != NULL) {
        PyObject *entry = PyDict_GetItemWithError(known, key);
        if (entry != NULL || PyErr_Occurred())
            return entry;
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    if (paths_cached >= PATHS_AT_MOST) {
        PyDict_Clear(children);
        paths_cached = 0;
        known = NULL;
    }
    PyObject *path;
    if (parent == Py_None) {
        path = Py_NewRef(key);
    }
    else {
        PyObject *prefix = PyUnicode_Concat(parent, s_dot);
        if (prefix == NULL)
            return NULL;
        path = PyUnicode_Concat(prefix, key);
        Py_DECREF(prefix);
        if (path == NULL)
            return NULL;
    }
    int kind = kind_of(path);
    PyObject *entry = kind < 0 ? NULL : Py_BuildValue("(Ni)", path, kind);
    if (entry == NULL) {
        if (kind < 0)
            Py_DECREF(path);
        return NULL;
    }
    if (known == NULL) {
        known = PyDict_New();
        if (known == NULL || PyDict_SetItem(children, parent, known) < 0) {
            Py_XDECREF(known);
            Py_DECREF(entry);
            return NULL;
        }
        Py_DECREF(known); /* `children` holds it */
    }
    int failed = PyDict_SetItem(known, key, entry);
    Py_DECREF(entry); /* `known` holds it */
    if (failed)
        return NULL;
    paths_cached++;
    return entry;
}

/* the JSON text of a leaf at `path` of kind `kind`, put where the kind says */
static int
add_leaf(PyObject *path, int kind, PyObject *value, Flat *flat)
{
    if (kind == HOT)
        return PyDict_SetItem(flat->hot, path, value) < 0 ? -1 : 1;
    PyObject *text = leaf_text(value);
    if (text == NULL)
        return -1;
    int failed;
    if (kind == PAIR) {
        failed = PyList_Append(flat->keys, path) < 0 || PyList_Append(flat->values, text) < 0;
    }
    else if (kind == PATH) {
        failed = PyDict_SetItem(flat->paths, path, text) < 0;
    }
    else {
        PyObject *list = list_at(flat->paths, path);
        failed = list == NULL || PyList_Append(list, text) < 0;
    }
    Py_DECREF(text);
    return failed ? -1 : 1;
}

/* walks `value` at `path` (of kind `kind`, for a leaf) into `flat`: 1 done, 0 declined,
 * -1 error */
static int add_nested(PyObject *path, int kind, PyObject *value, Flat *flat);

static int
add(PyObject *path, int kind, PyObject *value, Flat *flat)
{
    if (!PyDict_CheckExact(value) && !PyList_CheckExact(value))
        return add_leaf(path, kind, value, flat);
    /* a document nested past Python's recursion limit raises RecursionError, as the Python
     * walk does, instead of overflowing the C stack */
    if (Py_EnterRecursiveCall(" while flattening a document"))
        return -1;
    int done = add_nested(path, kind, value, flat);
    Py_LeaveRecursiveCall();
    return done;
}

/* `add` of a dict or a list */
static int
add_nested(PyObject *path, int kind, PyObject *value, Flat *flat)
{
    if (PyDict_CheckExact(value)) {
        if (PyList_Append(flat->objects, path) < 0)
            return -1;
        Py_ssize_t at = 0;
        PyObject *key, *item;
        while (PyDict_Next(value, &at, &key, &item)) {
            if (!PyUnicode_CheckExact(key))
                return 0; /* Python raises its TypeError */
            PyObject *entry = child_of(path, key);
            if (entry == NULL)
                return -1;
            /* held while the walk below may run Python code (a fallback text) */
            Py_INCREF(entry);
            Py_INCREF(item);
            int done = add(PyTuple_GET_ITEM(entry, 0),
                           (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 1)), item, flat);
            Py_DECREF(item);
            Py_DECREF(entry);
            if (done != 1)
                return done;
        }
        return 1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(value, i));
        int done = add(path, kind, item, flat);
        Py_DECREF(item);
        if (done != 1)
            return done;
    }
    return 1;
}

/* a hot column's value (`value` NULL where the document lacks the field), as schema._text
 * and schema._status make it: a text column takes a str, an int as its digits, anything
 * else as ""; the status code an int in 0-65535, else None */
static PyObject *
hot_column(PyObject *value, int is_status)
{
    if (is_status) {
        int overflow = 0;
        long long code = value != NULL && PyLong_CheckExact(value)
                             ? PyLong_AsLongLongAndOverflow(value, &overflow)
                             : -1;
        return Py_NewRef(!overflow && code >= 0 && code < 65536 ? value : Py_None);
    }
    if (value != NULL && PyUnicode_CheckExact(value))
        return Py_NewRef(value);
    if (value != NULL && PyLong_Check(value))
        return PyObject_Str(value);
    return Py_NewRef(s_empty);
}

/* a path column's value: its JSON text(s), or "" ([] for a list path) where absent */
static PyObject *
path_column(PyObject *value, int is_list)
{
    return value != NULL ? Py_NewRef(value) : is_list ? PyList_New(0) : Py_NewRef(s_empty);
}

/* the values of `found` (field -> value) in `order` ((field, flag) pairs), each made by
 * `column(value or NULL, flag)` */
static PyObject *
in_order(PyObject *found, PyObject *order, PyObject *(*column)(PyObject *, int))
{
    Py_ssize_t n = PyTuple_GET_SIZE(order);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyTuple_GET_ITEM(order, i);
        PyObject *value = PyDict_GetItemWithError(found, PyTuple_GET_ITEM(pair, 0));
        PyObject *made = value == NULL && PyErr_Occurred()
                             ? NULL
                             : column(value, PyTuple_GET_ITEM(pair, 1) == Py_True);
        if (made == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, made);
    }
    return out;
}

static PyObject *
flatten(PyObject *module, PyObject *doc)
{
    if (texts == NULL || !PyDict_CheckExact(doc))
        Py_RETURN_NONE;
    Flat flat = {PyList_New(0), PyList_New(0), PyList_New(0), PyDict_New(), PyDict_New()};
    int done = -1;
    if (flat.keys && flat.values && flat.objects && flat.hot && flat.paths) {
        Py_ssize_t at = 0;
        PyObject *key, *item;
        done = 1;
        while (done == 1 && PyDict_Next(doc, &at, &key, &item)) {
            if (!PyUnicode_CheckExact(key)) {
                done = 0;
                break;
            }
            PyObject *entry = child_of(Py_None, key);
            if (entry == NULL) {
                done = -1;
                break;
            }
            Py_INCREF(entry);
            Py_INCREF(item);
            done = add(PyTuple_GET_ITEM(entry, 0), (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 1)),
                       item, &flat);
            Py_DECREF(item);
            Py_DECREF(entry);
        }
    }
    PyObject *result = NULL;
    if (done == 1) {
        PyObject *hot = in_order(flat.hot, hot_order, hot_column);
        PyObject *paths = in_order(flat.paths, path_order, path_column);
        if (hot && paths)
            result = PyTuple_Pack(5, flat.keys, flat.values, flat.objects, hot, paths);
        Py_XDECREF(hot);
        Py_XDECREF(paths);
    }
    else if (done == 0)
        result = Py_NewRef(Py_None);
    Py_XDECREF(flat.keys);
    Py_XDECREF(flat.values);
    Py_XDECREF(flat.objects);
    Py_XDECREF(flat.hot);
    Py_XDECREF(flat.paths);
    return result;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *in, *paths, *lists, *cache, *fallback, *hot, *ordered;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "O!O!O!O!nOO!O!:configure", &PyFrozenSet_Type, &in,
                          &PyFrozenSet_Type, &paths, &PyFrozenSet_Type, &lists, &PyDict_Type,
                          &cache, &size, &fallback, &PyTuple_Type, &hot, &PyTuple_Type,
                          &ordered))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(hot) + PyTuple_GET_SIZE(ordered); i++) {
        PyObject *pair = i < PyTuple_GET_SIZE(hot)
                             ? PyTuple_GET_ITEM(hot, i)
                             : PyTuple_GET_ITEM(ordered, i - PyTuple_GET_SIZE(hot));
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 0)) ||
            !PyBool_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError,
                            "configure: hot_order and path_order hold (str, bool) pairs");
            return NULL;
        }
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "configure: json_text must be callable");
        return NULL;
    }
    Py_XSETREF(in_columns, Py_NewRef(in));
    Py_XSETREF(path_columns, Py_NewRef(paths));
    Py_XSETREF(list_paths, Py_NewRef(lists));
    Py_XSETREF(json_text, Py_NewRef(fallback));
    Py_XSETREF(hot_order, Py_NewRef(hot));
    Py_XSETREF(path_order, Py_NewRef(ordered));
    texts_size = size;
    Py_XSETREF(texts, Py_NewRef(cache)); /* last: `flatten` runs once it is set */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"flatten", flatten, METH_O,
     "flatten(doc) -> (keys, values, objects, hot, paths), or None to let Python do it"},
    {"configure", configure, METH_VARARGS,
     "configure(in_columns, path_columns, list_paths, texts, texts_size, json_text, "
     "hot_order, path_order)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kubetrail.store.clickhouse._flatten",
    "The events table's flattening of a document, in C (see schema._flattened).", -1, methods,
};

PyMODINIT_FUNC
PyInit__flatten(void)
{
    s_true = PyUnicode_InternFromString("true");
    s_false = PyUnicode_InternFromString("false");
    s_null = PyUnicode_InternFromString("null");
    s_dot = PyUnicode_InternFromString(".");
    s_empty = PyUnicode_InternFromString("");
    children = PyDict_New();
    if (!s_true || !s_false || !s_null || !s_dot || !s_empty || !children)
        return NULL;
    return PyModule_Create(&module);
}
