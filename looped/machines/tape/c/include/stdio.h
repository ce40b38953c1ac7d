/* looped's <stdio.h> for C on the SUBLEQ tape machine (docs/c.md): the four functions the
   subset provides, and EOF. The compiler implements them; these are their declarations. */
#ifndef LOOPED_STDIO_H
#define LOOPED_STDIO_H
#define EOF (-1)
#define NULL 0
int putchar(int c);
int getchar(void);
int puts(const char *s);
int printf(const char *format, ...);
#endif
