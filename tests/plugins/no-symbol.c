/* A shared object that is not a duikou plugin: must be refused. */
int not_a_plugin(void);
int not_a_plugin(void) { return 42; }
