/* graph_read.c — placeholder: written in a parallel change. */
typedef int ntg__placeholder_graph_read;
