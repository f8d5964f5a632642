/* shape-internal.h — the layout of the generated shape tables, shared by shapes-gen.c (which gen-shapes.py writes)
 * and shape.c (which walks them). Nothing outside pkg/ecs includes this: the public face is shape.h, where
 * struct ecs_shape is opaque.
 *
 * Every table is static const data with no pointers to heap memory; it is safe to read from any thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ecs_shape_type {
        ECS_SHAPE_STRUCTURE = 0,
        ECS_SHAPE_LIST,
        ECS_SHAPE_MAP,
        ECS_SHAPE_STRING,
        ECS_SHAPE_INTEGER,
        ECS_SHAPE_LONG,
        ECS_SHAPE_BOOLEAN,
        ECS_SHAPE_DOUBLE,
        ECS_SHAPE_FLOAT,
        ECS_SHAPE_TIMESTAMP,
        ECS_SHAPE_BLOB,
        ECS_SHAPE_DOCUMENT, /* a structure flagged "document": any JSON value, copied as is */
};

/* One member of a structure, in model order. */
struct ecs_shape_member {
        const char *name;
        const struct ecs_shape *shape;
        bool required;
};

/* One shape of the model. Which fields mean something depends on `type`:
 *   STRUCTURE: members/n_members.
 *   LIST: member (the element shape); min/max bound the element count.
 *   MAP: key and value; min/max bound the entry count.
 *   STRING: enum_values/n_enum (n_enum == 0: any value); min/max bound the length in characters.
 *   INTEGER, LONG: min/max bound the value.
 *   DOUBLE, FLOAT: fmin/fmax bound the value.
 * has_min/has_max say whether the model gives the bound at all. */
struct ecs_shape {
        const char *name;
        enum ecs_shape_type type;
        bool has_min;
        bool has_max;
        int64_t min;
        int64_t max;
        double fmin;
        double fmax;
        const struct ecs_shape_member *members;
        size_t n_members;
        const struct ecs_shape *member;
        const struct ecs_shape *key;
        const struct ecs_shape *value;
        const char *const *enum_values;
        size_t n_enum;
};

/* An operation of the model and its input shape. ecs_operations is sorted by strcmp on name. */
struct ecs_operation {
        const char *name;
        const struct ecs_shape *input;
};

extern const struct ecs_operation ecs_operations[];
extern const size_t ecs_operations_count;
