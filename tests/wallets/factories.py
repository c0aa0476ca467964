import factory
from django.contrib.auth.models import Group

from wallets.models import User, UserRole, UserStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    role = UserRole.CUSTOMER
    status = UserStatus.APPROVED
    password = factory.django.Password("correct horse battery")


class PendingUserFactory(UserFactory):
    status = UserStatus.PENDING


class StaffFactory(UserFactory):
    role = UserRole.STAFF
    is_staff = True

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if create:
            self.groups.add(Group.objects.get(name=extracted or "reviewer"))
