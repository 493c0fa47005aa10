/* plan_load.c — placeholder: written in a parallel change. */
typedef int ntg__placeholder_plan_load;
