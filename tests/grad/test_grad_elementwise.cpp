#include "grad_check.hpp"
using namespace netlens;
using namespace netlens::gradtest;
TEST(GradElementwiseSmoke, Common) {
  check_gradients(GradCase{.op = "Add", .inputs = {random_tensor({1, 3, 5, 7}, 1), random_tensor({3, 1, 1}, 2)}});
  check_gradients(GradCase{.op = "Mul", .inputs = {random_tensor({1, 3, 5, 7}, 1), random_tensor({5, 1}, 2)}});
  check_gradients(GradCase{.op = "Div", .inputs = {random_tensor({3, 4}, 1), random_tensor({4}, 2, 0.5f, 2.f)}});
  check_gradients(GradCase{.op = "Sigmoid", .inputs = {random_tensor({1, 3, 5, 7}, 1)}});
  check_gradients(GradCase{.op = "Softmax", .inputs = {random_tensor({2, 3, 4, 5}, 1)}});
  check_gradients(GradCase{.op = "Softmax", .opset = 11, .attrs = {{"axis", AttrValue(int64_t(1))}}, .inputs = {random_tensor({2, 3, 4}, 1)}});
  check_gradients(GradCase{.op = "ReduceMean", .opset = 11, .attrs = {{"axes", AttrValue(std::vector<int64_t>{2, 3})}}, .inputs = {random_tensor({2, 3, 4, 5}, 1)}});
}
