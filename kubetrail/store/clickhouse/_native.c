/*
 * kubetrail.store.clickhouse._native: the events table's rows written as one block of
 * ClickHouse's Native format, in C.
 *
 * `encode(rows, columns)` gives the bytes that clickhouse-driver's BlockOutputStream writes
 * after a block's BlockInfo (the column count, the row count, then each column's name, type
 * and data), for the column types the events table has:
 *
 *     Int64, UInt8, Nullable(UInt16), FixedString(N), String, LowCardinality(String),
 *     Array(String), Array(LowCardinality(String))
 *
 * `columns` gives, for each column, (head, kind, name, size): `head` is the bytes before its
 * data (name, type and, from the protocol revision that has it, the custom-serialization
 * flag), `kind` one of the KIND_* below, `name` the column's name for errors, `size` the N of
 * FixedString(N). Each row is a list or a tuple
 * of one value per column, as the driver takes them (kubetrail.store.clickhouse.native builds
 * the plan from the server's sample block). The tests (tests/store/test_native_block.py)
 * check that the bytes are the driver's, byte for byte, and that the server reads them back.
 *
 * A value the driver would refuse is refused here too, with the column named: TypeError for
 * a wrong type, OverflowError for an int out of the column's range, ValueError for a
 * FixedString too long, UnicodeEncodeError for a str that is not valid UTF-8 (a lone
 * surrogate). One difference: a LowCardinality value must be a str or bytes exactly (not a
 * subclass), since it is hashed into the dictionary and a subclass's __eq__ could run Python
 * that changes the rows being read.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    KIND_INT64 = 0,
    KIND_UINT8 = 1,
    KIND_NULLABLE_UINT16 = 2,
    KIND_FIXED_STRING = 3,
    KIND_STRING = 4,
    KIND_LOW_CARDINALITY = 5,
    KIND_ARRAY_STRING = 6,
    KIND_ARRAY_LOW_CARDINALITY = 7,
    KIND_COUNT = 8,
};

/* LowCardinality's serialization: keys version, then per block a flags word whose low byte
 * is the index width (0: UInt8 ... 3: UInt64) */
#define LC_KEYS_VERSION 1 /* SharedDictionariesWithAdditionalKeys */
#define LC_HAS_ADDITIONAL_KEYS (1ULL << 9)
#define LC_NEED_UPDATE_DICTIONARY (1ULL << 10)

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int
reserve(Buf *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *grown = PyMem_Realloc(b->data, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static int
put(Buf *b, const void *bytes, Py_ssize_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, bytes, (size_t)n);
    b->len += n;
    return 0;
}

/* little-endian, whatever the host */
static int
put_le(Buf *b, uint64_t value, int width)
{
    if (reserve(b, width) < 0)
        return -1;
    for (int i = 0; i < width; i++)
        b->data[b->len++] = (char)((value >> (8 * i)) & 0xff);
    return 0;
}

static int
put_varint(Buf *b, uint64_t value)
{
    if (reserve(b, 10) < 0)
        return -1;
    do {
        unsigned char byte = value & 0x7f;
        value >>= 7;
        b->data[b->len++] = (char)(value ? byte | 0x80 : byte);
    } while (value);
    return 0;
}

static void
column_error(PyObject *type, PyObject *name, const char *what, PyObject *value)
{
    PyErr_Format(type, "column %U: %s, got %.80R", name, what, value);
}

/* the bytes of a str (UTF-8) or bytes value; NULL with an error set otherwise */
static const char *
text_of(PyObject *value, Py_ssize_t *size, PyObject *name)
{
    if (PyUnicode_Check(value))
        return PyUnicode_AsUTF8AndSize(value, size);
    if (PyBytes_Check(value)) {
        *size = PyBytes_GET_SIZE(value);
        return PyBytes_AS_STRING(value);
    }
    column_error(PyExc_TypeError, name, "expected str or bytes", value);
    return NULL;
}

static int
put_string(Buf *b, PyObject *value, PyObject *name)
{
    Py_ssize_t size;
    const char *text = text_of(value, &size, name);
    if (text == NULL || put_varint(b, (uint64_t)size) < 0)
        return -1;
    return put(b, text, size);
}

/* an int within [low, high], else -1 with an error set (PyErr_Occurred tells) */
static long long
int_in(PyObject *value, long long low, long long high, PyObject *name)
{
    if (!PyLong_Check(value)) {
        column_error(PyExc_TypeError, name, "expected int", value);
        return -1;
    }
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (overflow || n < low || n > high) {
        column_error(PyExc_OverflowError, name, "int out of the column's range", value);
        return -1;
    }
    return n;
}

/* a row's value of column `j` (rows are checked to be lists or tuples of the right length) */
#define CELL(rows, i, j) PySequence_Fast_GET_ITEM(PyList_GET_ITEM(rows, i), j)

static int
put_fixed(Buf *b, PyObject *value, Py_ssize_t width, PyObject *name)
{
    Py_ssize_t size;
    const char *text = text_of(value, &size, name);
    if (text == NULL)
        return -1;
    if (size > width) {
        column_error(PyExc_ValueError, name, "too long for its FixedString", value);
        return -1;
    }
    if (reserve(b, width) < 0)
        return -1;
    memcpy(b->data + b->len, text, (size_t)size);
    memset(b->data + b->len + size, 0, (size_t)(width - size));
    b->len += width;
    return 0;
}

/* Array offsets: the running total of the lengths, one UInt64 per row */
static int
put_offsets(Buf *b, PyObject *rows, Py_ssize_t j, PyObject *name)
{
    uint64_t offset = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *items = CELL(rows, i, j);
        if (!PyList_Check(items) && !PyTuple_Check(items)) {
            column_error(PyExc_TypeError, name, "expected a list", items);
            return -1;
        }
        offset += (uint64_t)PySequence_Fast_GET_SIZE(items);
        if (put_le(b, offset, 8) < 0)
            return -1;
    }
    return 0;
}

/* Calls `each(b, item, name, state)` for the items of column `j`: the values themselves, or
 * the elements of each row's list with `flat`. */
typedef int (*Each)(Buf *, PyObject *, PyObject *, void *);

static int
for_items(Buf *b, PyObject *rows, Py_ssize_t j, int flat, Each each, PyObject *name, void *state)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *value = CELL(rows, i, j);
        if (!flat) {
            if (each(b, value, name, state) < 0)
                return -1;
            continue;
        }
        for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(value); k++)
            if (each(b, PySequence_Fast_GET_ITEM(value, k), name, state) < 0)
                return -1;
    }
    return 0;
}

static int
each_string(Buf *b, PyObject *value, PyObject *name, void *state)
{
    (void)state;
    return put_string(b, value, name);
}

/* LowCardinality: the distinct values in order of first appearance (the dictionary), then
 * each item's position in it; the pass that finds them counts the items too */
typedef struct {
    PyObject *positions; /* dict: value -> its position (an int) */
    PyObject *distinct;  /* list: the values, in order */
    Py_ssize_t items;
} Dictionary;

static int
each_distinct(Buf *b, PyObject *value, PyObject *name, void *state)
{
    (void)b;
    Dictionary *d = state;
    d->items++;
    if (!PyUnicode_CheckExact(value) && !PyBytes_CheckExact(value)) {
        column_error(PyExc_TypeError, name, "expected str or bytes", value);
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(d->positions, value);
    if (known != NULL)
        return 0;
    if (PyErr_Occurred())
        return -1;
    PyObject *position = PyLong_FromSsize_t(PyList_GET_SIZE(d->distinct));
    if (position == NULL)
        return -1;
    int failed = PyDict_SetItem(d->positions, value, position) < 0 ||
                 PyList_Append(d->distinct, value) < 0;
    Py_DECREF(position);
    return failed ? -1 : 0;
}

typedef struct {
    PyObject *positions;
    int width;
} Keys;

static int
each_key(Buf *b, PyObject *value, PyObject *name, void *state)
{
    (void)name;
    Keys *keys = state;
    PyObject *position = PyDict_GetItemWithError(keys->positions, value);
    if (position == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "LowCardinality value missing its position");
        return -1;
    }
    return put_le(b, (uint64_t)PyLong_AsSsize_t(position), keys->width);
}

/* the driver's choice of index width: int(log2(size) / 8) -> 1, 2, 4 or 8 bytes */
static int
index_width(Py_ssize_t size)
{
    if (size < 256)
        return 1;
    if (size < 65536)
        return 2;
    if ((uint64_t)size < ((uint64_t)1 << 32))
        return 4;
    return 8;
}

static int
put_low_cardinality(Buf *b, PyObject *rows, Py_ssize_t j, int flat, PyObject *name)
{
    Dictionary d = {PyDict_New(), PyList_New(0), 0};
    int result = -1;
    if (d.positions == NULL || d.distinct == NULL)
        goto done;
    if (for_items(b, rows, j, flat, each_distinct, name, &d) < 0)
        goto done;
    Py_ssize_t size = PyList_GET_SIZE(d.distinct);
    if (size == 0) { /* no items: nothing written, as the driver does */
        result = 0;
        goto done;
    }
    int width = index_width(size);
    uint64_t widths = width == 1 ? 0 : width == 2 ? 1 : width == 4 ? 2 : 3;
    if (put_le(b, LC_HAS_ADDITIONAL_KEYS | LC_NEED_UPDATE_DICTIONARY | widths, 8) < 0 ||
        put_le(b, (uint64_t)size, 8) < 0)
        goto done;
    for (Py_ssize_t k = 0; k < size; k++)
        if (put_string(b, PyList_GET_ITEM(d.distinct, k), name) < 0)
            goto done;
    if (put_le(b, (uint64_t)d.items, 8) < 0)
        goto done;
    Keys keys = {d.positions, width};
    result = for_items(b, rows, j, flat, each_key, name, &keys);
done:
    Py_XDECREF(d.positions);
    Py_XDECREF(d.distinct);
    return result;
}

static int
put_column(Buf *b, PyObject *rows, Py_ssize_t j, int kind, Py_ssize_t size, PyObject *name)
{
    Py_ssize_t n = PyList_GET_SIZE(rows);
    switch (kind) {
    case KIND_INT64:
        for (Py_ssize_t i = 0; i < n; i++) {
            long long v = int_in(CELL(rows, i, j), LLONG_MIN, LLONG_MAX, name);
            if ((v == -1 && PyErr_Occurred()) || put_le(b, (uint64_t)v, 8) < 0)
                return -1;
        }
        return 0;
    case KIND_UINT8:
        for (Py_ssize_t i = 0; i < n; i++) {
            long long v = int_in(CELL(rows, i, j), 0, 255, name);
            if ((v == -1 && PyErr_Occurred()) || put_le(b, (uint64_t)v, 1) < 0)
                return -1;
        }
        return 0;
    case KIND_NULLABLE_UINT16: /* the null map, then the values (0 for a null) */
        for (Py_ssize_t i = 0; i < n; i++)
            if (put_le(b, CELL(rows, i, j) == Py_None, 1) < 0)
                return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *value = CELL(rows, i, j);
            long long v = value == Py_None ? 0 : int_in(value, 0, 65535, name);
            if ((v == -1 && PyErr_Occurred()) || put_le(b, (uint64_t)v, 2) < 0)
                return -1;
        }
        return 0;
    case KIND_FIXED_STRING:
        for (Py_ssize_t i = 0; i < n; i++)
            if (put_fixed(b, CELL(rows, i, j), size, name) < 0)
                return -1;
        return 0;
    case KIND_STRING:
        return for_items(b, rows, j, 0, each_string, name, NULL);
    case KIND_LOW_CARDINALITY:
        return put_le(b, LC_KEYS_VERSION, 8) < 0 ? -1
                                                : put_low_cardinality(b, rows, j, 0, name);
    case KIND_ARRAY_STRING:
        if (put_offsets(b, rows, j, name) < 0)
            return -1;
        return for_items(b, rows, j, 1, each_string, name, NULL);
    case KIND_ARRAY_LOW_CARDINALITY: /* the keys version comes before the offsets */
        if (put_le(b, LC_KEYS_VERSION, 8) < 0 || put_offsets(b, rows, j, name) < 0)
            return -1;
        return put_low_cardinality(b, rows, j, 1, name);
    }
    PyErr_Format(PyExc_ValueError, "column %U: unknown kind %d", name, kind);
    return -1;
}

static PyObject *
encode(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *rows, *columns;
    if (!PyArg_ParseTuple(args, "O!O!:encode", &PyList_Type, &rows, &PyTuple_Type, &columns))
        return NULL;
    Py_ssize_t ncolumns = PyTuple_GET_SIZE(columns), nrows = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < nrows; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if ((!PyList_Check(row) && !PyTuple_Check(row)) ||
            PySequence_Fast_GET_SIZE(row) != ncolumns) {
            PyErr_Format(PyExc_ValueError, "row %zd: expected a list of %zd values, got %.80R",
                         i, ncolumns, row);
            return NULL;
        }
    }
    Py_INCREF(rows); /* no Python code runs while the rows are read, but hold them anyway */
    Buf b = {NULL, 0, 0};
    PyObject *result = NULL;
    if (put_varint(&b, (uint64_t)ncolumns) < 0 || put_varint(&b, (uint64_t)nrows) < 0)
        goto done;
    for (Py_ssize_t j = 0; j < ncolumns; j++) {
        PyObject *head, *name;
        int kind;
        Py_ssize_t size;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(columns, j), "O!iUn:encode column", &PyBytes_Type,
                              &head, &kind, &name, &size))
            goto done;
        if (kind < 0 || kind >= KIND_COUNT || size < 0) {
            PyErr_Format(PyExc_ValueError, "column %U: unknown kind %d", name, kind);
            goto done;
        }
        if (put(&b, PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head)) < 0 ||
            put_column(&b, rows, j, kind, size, name) < 0)
            goto done;
    }
    result = PyBytes_FromStringAndSize(b.data, b.len);
done:
    PyMem_Free(b.data);
    Py_DECREF(rows);
    return result;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_VARARGS,
     "encode(rows, columns) -> bytes: a Native block's columns, "
     "each column given as (head, kind, name, size)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "kubetrail.store.clickhouse._native",
    "The events table's rows as a block of ClickHouse's Native format, in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    static const struct {
        const char *name;
        int value;
    } kinds[] = {
        {"INT64", KIND_INT64},
        {"UINT8", KIND_UINT8},
        {"NULLABLE_UINT16", KIND_NULLABLE_UINT16},
        {"FIXED_STRING", KIND_FIXED_STRING},
        {"STRING", KIND_STRING},
        {"LOW_CARDINALITY", KIND_LOW_CARDINALITY},
        {"ARRAY_STRING", KIND_ARRAY_STRING},
        {"ARRAY_LOW_CARDINALITY", KIND_ARRAY_LOW_CARDINALITY},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (PyModule_AddIntConstant(m, kinds[i].name, kinds[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    return m;
}
