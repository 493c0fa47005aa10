/* cpu_backend.c — placeholder: written in a parallel change. */
typedef int ntg__placeholder_cpu_backend;
