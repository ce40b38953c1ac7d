/* a * b with the runtime's multiplication, the inputs of programs/multiply.asm. */
int a = 12;
int b = 34;
int product;

int main(void) {
    product = a * b;
    return product;
}
