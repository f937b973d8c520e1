/* A shared object that is not an amsd plugin at all. */
int no_manifest_here(void);
int no_manifest_here(void)
{
    return 42;
}
